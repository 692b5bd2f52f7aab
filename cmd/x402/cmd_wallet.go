package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// runWallet runs `x402 wallet new|show|balance|faucet`.
func runWallet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "wallet", []subcommand{
		{"new", "create a wallet key (0600) and print its account id", runWalletNew},
		{"show", "print the wallet's account id", runWalletShow},
		{"balance", "show an account's balances and nonce on the ledger", runWalletBalance},
		{"faucet", "receive the development ledger's faucet amount", runWalletFaucet},
	}, args, stdout, stderr)
}

func runWalletNew(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wallet new", stderr)
	w := addWalletFlags(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := os.Stat(*w.key); err == nil {
		return fmt.Errorf("wallet new: %s already exists; refusing to overwrite", *w.key)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wallet new: %w", err)
	}
	priv, err := keys.Generate()
	if err != nil {
		return fmt.Errorf("wallet new: %w", err)
	}
	if err := keys.Save(*w.key, priv); err != nil {
		return fmt.Errorf("wallet new: %w", err)
	}
	fmt.Fprintf(stderr, "wallet key saved to %s\n", *w.key)
	_, err = fmt.Fprintln(stdout, pay.AccountOf(publicKey(priv)))
	return err
}

func runWalletShow(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wallet show", stderr)
	w := addWalletFlags(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, acc, err := loadWallet(*w.key)
	if err != nil {
		return fmt.Errorf("wallet show: %w", err)
	}
	_, err = fmt.Fprintln(stdout, acc)
	return err
}

// balanceJSON is what `x402 wallet balance --json` prints.
type balanceJSON struct {
	Account      string               `json:"account"`
	Nonce        uint64               `json:"nonce"`
	Balances     map[pay.Asset]string `json:"balances"`      // "1.5 USD"
	BalancesNano map[pay.Asset]uint64 `json:"balances_nano"` // 1500000000
}

func runWalletBalance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wallet balance", stderr)
	w := addWalletFlags(fs, true)
	account := fs.String("account", "", "show this account instead of the wallet's")
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var acc pay.Account
	if *account != "" {
		if flagGiven(fs, "key") {
			return usageError{"wallet balance: give --key or --account, not both"}
		}
		var err error
		if acc, err = pay.ParseAccount(*account); err != nil {
			return usageError{"wallet balance: --account: " + err.Error()}
		}
	} else {
		var err error
		if _, acc, err = loadWallet(*w.key); err != nil {
			return fmt.Errorf("wallet balance: %w", err)
		}
	}
	lc, err := connectWalletLedger(ctx, w)
	if err != nil {
		return fmt.Errorf("wallet balance: %w", err)
	}
	defer lc.Close()
	st, err := lc.c.Account(ctx, acc)
	if err != nil {
		return fmt.Errorf("wallet balance: ledger %s: %w", lc.url, err)
	}
	out := balanceJSON{Account: acc.String(), Nonce: st.Nonce, Balances: map[pay.Asset]string{}, BalancesNano: map[pay.Asset]uint64{}}
	for a, v := range st.Balances {
		out.Balances[a], out.BalancesNano[a] = v.Format(a), uint64(v)
	}
	if *asJSON {
		return writeJSONLine(stdout, out)
	}
	fmt.Fprintf(stdout, "account  %s\n", out.Account)
	if len(st.Balances) == 0 {
		fmt.Fprintf(stdout, "balance  %s\n", pay.Amount(0).Format(pay.USD))
	}
	for _, a := range sortedAssets(st.Balances) {
		fmt.Fprintf(stdout, "balance  %s\n", out.Balances[a])
	}
	_, err = fmt.Fprintf(stdout, "nonce    %d\n", st.Nonce)
	return err
}

func runWalletFaucet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wallet faucet", stderr)
	w := addWalletFlags(fs, true)
	asset := fs.String("asset", string(pay.USD), "the asset to receive (USD or X402)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !pay.Asset(*asset).Valid() {
		return usageError{fmt.Sprintf("wallet faucet: --asset %q: want USD or X402", *asset)}
	}
	priv, acc, err := loadWallet(*w.key)
	if err != nil {
		return fmt.Errorf("wallet faucet: %w", err)
	}
	lc, err := connectWalletLedger(ctx, w)
	if err != nil {
		return fmt.Errorf("wallet faucet: %w", err)
	}
	defer lc.Close()
	r, err := ledger.SubmitBody(ctx, lc.c, lc.domain, priv, ledger.Faucet{Asset: pay.Asset(*asset)})
	if err != nil {
		return fmt.Errorf("wallet faucet: %w", err)
	}
	fmt.Fprintf(stdout, "received %s\n", r.Paid.Format(pay.Asset(*asset)))
	if st, err := lc.c.Account(ctx, acc); err == nil {
		fmt.Fprintf(stdout, "balance  %s\n", st.Balances[pay.Asset(*asset)].Format(pay.Asset(*asset)))
	}
	return nil
}
