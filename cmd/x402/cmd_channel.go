package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// runChannel runs `x402 channel open|list|close`.
func runChannel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "channel", []subcommand{
		{"open", "open a payment channel to a seller, escrowing a deposit", runChannelOpen},
		{"list", "list the wallet's channels as buyer", runChannelList},
		{"close", "start closing a channel (--finalize: settle it and refund)", runChannelClose},
	}, args, stdout, stderr)
}

// channelJSON is one channel as the channel commands print it.
type channelJSON struct {
	Channel     string `json:"channel"`
	Seller      string `json:"seller"`
	Asset       string `json:"asset"`
	Deposit     string `json:"deposit"`
	Claimed     string `json:"claimed"`
	Refunded    string `json:"refunded"`
	DepositNano uint64 `json:"deposit_nano"`
	ClaimedNano uint64 `json:"claimed_nano"`
	RefundNano  uint64 `json:"refunded_nano"`
	Challenge   string `json:"challenge"`
	Status      string `json:"status"`
}

func newChannelJSON(c ledger.ChannelState) channelJSON {
	return channelJSON{
		Channel: c.ID.String(), Seller: c.Seller.String(), Asset: string(c.Asset),
		Deposit: c.Deposit.Format(c.Asset), Claimed: c.Claimed.Format(c.Asset), Refunded: c.Refunded.Format(c.Asset),
		DepositNano: uint64(c.Deposit), ClaimedNano: uint64(c.Claimed), RefundNano: uint64(c.Refunded),
		Challenge: c.Challenge.String(), Status: string(c.Status),
	}
}

func runChannelOpen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("channel open", stderr)
	w := addWalletFlags(fs, true)
	sellerStr := fs.String("seller", "", "the seller's account id")
	depositStr := fs.String("deposit", "", `amount to escrow, e.g. "1 USD"`)
	challenge := fs.Duration("challenge", time.Minute, "how long the seller may still claim after the buyer starts a close")
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *sellerStr == "" || *depositStr == "" {
		return usageError{"channel open: --seller and --deposit are required"}
	}
	seller, err := pay.ParseAccount(*sellerStr)
	if err != nil {
		return usageError{"channel open: --seller: " + err.Error()}
	}
	deposit, asset, err := parseAssetAmountFlag("deposit", *depositStr)
	if err != nil {
		return err
	}
	priv, _, err := loadWallet(*w.key)
	if err != nil {
		return fmt.Errorf("channel open: %w", err)
	}
	lc, err := connectWalletLedger(ctx, w)
	if err != nil {
		return fmt.Errorf("channel open: %w", err)
	}
	defer lc.Close()
	r, err := ledger.SubmitBody(ctx, lc.c, lc.domain, priv, ledger.OpenChannel{Seller: seller, Asset: asset, Deposit: deposit, Challenge: *challenge})
	if err != nil {
		return fmt.Errorf("channel open: %w", err)
	}
	if *asJSON {
		st, err := lc.c.Channel(ctx, r.Channel)
		if err != nil {
			return fmt.Errorf("channel open: read channel %s: %w", r.Channel, err)
		}
		return writeJSONLine(stdout, newChannelJSON(st))
	}
	_, err = fmt.Fprintln(stdout, r.Channel)
	return err
}

func runChannelList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("channel list", stderr)
	w := addWalletFlags(fs, true)
	asJSON := fs.Bool("json", false, "print machine-readable JSON (an array)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, acc, err := loadWallet(*w.key)
	if err != nil {
		return fmt.Errorf("channel list: %w", err)
	}
	lc, err := connectWalletLedger(ctx, w)
	if err != nil {
		return fmt.Errorf("channel list: %w", err)
	}
	defer lc.Close()
	st, err := lc.c.Account(ctx, acc)
	if err != nil {
		return fmt.Errorf("channel list: %w", err)
	}
	// A buyer's channel ids derive from the nonce of its opening transaction.
	out := []channelJSON{}
	for n := uint64(1); n <= st.Nonce; n++ {
		ch, err := lc.c.Channel(ctx, ledger.ChannelIDFor(lc.domain, acc, n))
		if errors.Is(err, ledger.ErrUnknownChannel) {
			continue
		}
		if err != nil {
			return fmt.Errorf("channel list: %w", err)
		}
		out = append(out, newChannelJSON(ch))
	}
	if *asJSON {
		return writeJSONLine(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "channel\tseller\tdeposit\tclaimed\tstatus")
	for _, c := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Channel, c.Seller, c.Deposit, c.Claimed, c.Status)
	}
	return tw.Flush()
}

func runChannelClose(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("channel close", stderr)
	w := addWalletFlags(fs, true)
	idStr := fs.String("id", "", "the channel id")
	finalize := fs.Bool("finalize", false, "wait for the challenge period, then settle and print the refund")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *idStr == "" {
		return usageError{"channel close: --id is required"}
	}
	id, err := pay.ParseChannelID(*idStr)
	if err != nil {
		return usageError{"channel close: --id: " + err.Error()}
	}
	priv, _, err := loadWallet(*w.key)
	if err != nil {
		return fmt.Errorf("channel close: %w", err)
	}
	lc, err := connectWalletLedger(ctx, w)
	if err != nil {
		return fmt.Errorf("channel close: %w", err)
	}
	defer lc.Close()
	ch, err := lc.c.Channel(ctx, id)
	if err != nil {
		return fmt.Errorf("channel close: %w", err)
	}
	if ch.Status == ledger.StatusSettled {
		fmt.Fprintf(stdout, "channel %s is already settled; refunded %s\n", id, ch.Refunded.Format(ch.Asset))
		return nil
	}
	if ch.Status == ledger.StatusOpen {
		if _, err := ledger.SubmitBody(ctx, lc.c, lc.domain, priv, ledger.StartClose{Channel: id}); err != nil {
			return fmt.Errorf("channel close: %w", err)
		}
		if ch, err = lc.c.Channel(ctx, id); err != nil {
			return fmt.Errorf("channel close: %w", err)
		}
	}
	closeAt := time.Unix(0, ch.CloseAt)
	if !*finalize {
		fmt.Fprintf(stdout, "channel %s is closing; the challenge period ends at %s\nthen settle it with: x402 channel close --id %s --finalize\n",
			id, closeAt.Format(time.RFC3339), id)
		return nil
	}
	r, err := finalizeChannel(ctx, lc, priv, id, closeAt)
	if err != nil {
		return fmt.Errorf("channel close: %w", err)
	}
	if final, err := lc.c.Channel(ctx, id); err == nil {
		ch = final
	}
	_, err = fmt.Fprintf(stdout, "channel %s settled\nclaimed  %s\nrefund   %s\n", id, ch.Claimed.Format(ch.Asset), r.Refund.Format(ch.Asset))
	return err
}

// finalizeChannel waits until closeAt (the ledger's clock may run a little
// behind ours), then finalizes, retrying while the ledger says it is early.
func finalizeChannel(ctx context.Context, lc ledgerConn, priv ed25519.PrivateKey, id pay.ChannelID, closeAt time.Time) (ledger.Receipt, error) {
	if err := sleepUntil(ctx, closeAt); err != nil {
		return ledger.Receipt{}, err
	}
	for {
		r, err := ledger.SubmitBody(ctx, lc.c, lc.domain, priv, ledger.Finalize{Channel: id})
		if err == nil || !errors.Is(err, ledger.ErrRejected) || !strings.Contains(err.Error(), "challenge period runs until") {
			return r, err
		}
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return ledger.Receipt{}, err
		}
	}
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
