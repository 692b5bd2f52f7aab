package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/pay/ledger"
)

// buyOptions are the parsed flags of `x402 buy`.
type buyOptions struct {
	seller     pay.Account
	sellerAddr string
	asset      pay.Asset
	deposit    pay.Amount
	limits     buyer.Limits
	channel    *pay.ChannelID
	challenge  time.Duration
	listen     string
	listenHTTP string
	key        string
	ledger     string
	genesis    string // a shard genesis, instead of ledger
	json       bool
	logLevel   string
}

func parseBuyFlags(args []string, stderr io.Writer) (buyOptions, error) {
	var o buyOptions
	fs := newFlags("buy", stderr)
	w := addWalletFlags(fs, true)
	sellerStr := fs.String("seller", "", "ACCOUNT@HOST:PORT: the seller's account and payment session (UDP) address")
	depositStr := fs.String("deposit", "", `deposit of a new channel, e.g. "1 USD"`)
	maxPrice := fs.String("max-price", "", `refuse a seller asking more per GiB, e.g. "0.50 USD"`)
	maxSpend := fs.String("max-spend", "", "never pay more than this in total (default: the deposit)")
	channel := fs.String("channel", "", "reuse this open channel instead of opening one")
	prepayKiB := fs.Int64("prepay-kib", buyer.DefaultPrepayBytes>>10, "pay this many KiB ahead of the seller's bills (refunded at a cooperative close); 0: pay only what was billed")
	fs.DurationVar(&o.challenge, "challenge", 10*time.Second, "challenge period of a new channel")
	fs.StringVar(&o.listen, "listen", "", "serve a local SOCKS5 endpoint here (e.g. 127.0.0.1:1080)")
	fs.StringVar(&o.listenHTTP, "listen-http", "", "serve a local HTTP proxy endpoint here (e.g. 127.0.0.1:8080)")
	fs.BoolVar(&o.json, "json", false, "print the endpoints, then the settlement, as JSON lines")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	o.key, o.ledger, o.genesis = *w.key, *w.ledger, *w.genesis
	switch {
	case *prepayKiB < 0 || *prepayKiB > 1<<30:
		return o, usageError{"buy: --prepay-kib must be between 0 and 1073741824"}
	case *prepayKiB == 0:
		o.limits.PrepayBytes = -1
	default:
		o.limits.PrepayBytes = *prepayKiB << 10
	}
	acc, addr, ok := strings.Cut(*sellerStr, "@")
	if !ok || acc == "" || addr == "" {
		return o, usageError{"buy: --seller ACCOUNT@HOST:PORT is required"}
	}
	var err error
	if o.seller, err = pay.ParseAccount(acc); err != nil {
		return o, usageError{"buy: --seller: " + err.Error()}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return o, usageError{"buy: --seller: " + err.Error()}
	}
	o.sellerAddr = addr
	if *maxPrice == "" {
		return o, usageError{"buy: --max-price is required"}
	}
	if o.limits.MaxPricePerGiB, o.asset, err = parseAssetAmountFlag("max-price", *maxPrice); err != nil {
		return o, err
	}
	if *channel != "" {
		id, err := pay.ParseChannelID(*channel)
		if err != nil {
			return o, usageError{"buy: --channel: " + err.Error()}
		}
		o.channel = &id
	} else if *depositStr == "" {
		return o, usageError{"buy: --deposit is required (or --channel to reuse one)"}
	}
	for _, f := range []struct {
		name, v string
		dst     *pay.Amount
	}{{"deposit", *depositStr, &o.deposit}, {"max-spend", *maxSpend, &o.limits.MaxSpend}} {
		if f.v == "" {
			continue
		}
		amt, asset, err := parseAssetAmountFlag(f.name, f.v)
		if err != nil {
			return o, err
		}
		if asset != o.asset {
			return o, usageError{fmt.Sprintf("buy: --%s is in %s but --max-price in %s", f.name, asset, o.asset)}
		}
		*f.dst = amt
	}
	return o, nil
}

// buyEndpoints is the first line `x402 buy --json` prints.
type buyEndpoints struct {
	Channel      string `json:"channel"`
	SOCKS5       string `json:"socks5"` // what clients should use: the local endpoint, else the seller's
	HTTP         string `json:"http"`
	SellerSOCKS5 string `json:"seller_socks5"` // the seller's proxies with the channel's credentials
	SellerHTTP   string `json:"seller_http"`
}

func runBuy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBuyFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	priv, _, err := loadWallet(o.key)
	if err != nil {
		return fmt.Errorf("buy: %w", err)
	}
	lc, err := connectWalletLedger(ctx, walletFlags{ledger: &o.ledger, genesis: &o.genesis})
	if err != nil {
		return fmt.Errorf("buy: %w", err)
	}
	defer lc.Close()
	agent, err := buyer.StartAgent(ctx, buyer.AgentConfig{
		Key: priv, Ledger: lc.c, SellerAddr: o.sellerAddr, Seller: o.seller,
		Asset: o.asset, Deposit: o.deposit, Challenge: o.challenge, Channel: o.channel, Limits: o.limits,
		ListenSOCKS5: o.listen, ListenHTTP: o.listenHTTP, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("buy: %w", err)
	}
	wel := agent.Welcome()
	ep := buyEndpoints{
		Channel:      agent.Channel().String(),
		SellerSOCKS5: proxyURL("socks5h", wel.User, wel.Password, wel.SOCKS5),
		SellerHTTP:   proxyURL("http", wel.User, wel.Password, wel.HTTP),
	}
	ep.SOCKS5, ep.HTTP = ep.SellerSOCKS5, ep.SellerHTTP
	if o.listen != "" || o.listenHTTP != "" {
		s, h, u, p := agent.LocalEndpoints()
		ep.SOCKS5, ep.HTTP = proxyURL("socks5h", u, p, s), proxyURL("http", u, p, h)
	}
	if o.json {
		err = writeJSONLine(stdout, ep)
	} else {
		err = printBuyEndpoints(stdout, ep, wel.PricePerGiB.Format(wel.Asset))
	}
	if err != nil {
		return errors.Join(fmt.Errorf("buy: %w", err), settleBuy(agent, lc.c, o, wel.Asset, stdout, stderr))
	}

	if !o.json && isTerminal(stdout) {
		showProgress(ctx, stdout, agent, wel.Asset)
	} else {
		<-ctx.Done()
	}
	return settleBuy(agent, lc.c, o, wel.Asset, stdout, stderr)
}

// settleBuy closes the agent's channel after SIGINT/SIGTERM; a second
// signal abandons the settlement (the channel then stays open or closing).
func settleBuy(agent *buyer.Agent, lc ledger.Client, o buyOptions, asset pay.Asset, stdout, stderr io.Writer) error {
	challenge := o.challenge
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if st, err := lc.Channel(ctx, agent.Channel()); err == nil {
		challenge = st.Challenge
	}
	cancel()
	if !o.json {
		fmt.Fprintf(stderr, "settling channel %s (challenge period %s; interrupt again to abandon)\n", agent.Channel(), challenge)
	}
	ctx, cancel = context.WithTimeout(context.Background(), challenge+time.Minute)
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	s, err := agent.Close(ctx)
	if perr := printSettlement(stdout, s, asset, o.json, err); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("buy: settle channel %s: %w", agent.Channel(), err)
	}
	return nil
}

// proxyURL is scheme://user:pass@addr, or "" without an address.
func proxyURL(scheme, user, pass, addr string) string {
	if addr == "" {
		return ""
	}
	return (&url.URL{Scheme: scheme, User: url.UserPassword(user, pass), Host: addr}).String()
}

func printBuyEndpoints(w io.Writer, ep buyEndpoints, price string) error {
	_, err := fmt.Fprintf(w, "x402 buy: channel %s open at %s/GiB; Ctrl-C settles it.\n\n  socks5  %s\n  http    %s\n\nTry: curl -x %s https://example.com/\n",
		ep.Channel, price, orDash(ep.SOCKS5), orDash(ep.HTTP), ep.SOCKS5)
	return err
}
