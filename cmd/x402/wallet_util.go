package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/shard"
)

// subcommand is one verb of a command group (x402 wallet new, ...).
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// runGroup dispatches `x402 GROUP VERB ...` to the verb's run function.
func runGroup(ctx context.Context, group string, subs []subcommand, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: x402 %s <subcommand> [flags]\n\nSubcommands:\n", group)
		for _, s := range subs {
			fmt.Fprintf(w, "  %-8s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun 'x402 %s <subcommand> -h' for its flags.\n", group)
	}
	if len(args) == 0 {
		usage(stderr)
		return usageError{group + ": missing subcommand"}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return usageError{fmt.Sprintf("%s: unknown subcommand %q", group, args[0])}
}

// defaultWalletPath is $X402_WALLET, else $HOME/.config/x402/wallet.key.
func defaultWalletPath() string {
	if p := os.Getenv("X402_WALLET"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "wallet.key"
	}
	return filepath.Join(home, ".config", "x402", "wallet.key")
}

// defaultLedgerURL is $X402_LEDGER, else the local development ledger.
func defaultLedgerURL() string {
	if u := os.Getenv("X402_LEDGER"); u != "" {
		return u
	}
	return "http://127.0.0.1:9500"
}

// walletFlags are the flags every command acting for a wallet takes.
type walletFlags struct {
	key     *string
	ledger  *string
	genesis *string // a shard genesis: talk to the PBFT shard instead of --ledger
}

func addWalletFlags(fs *flag.FlagSet, withLedger bool) walletFlags {
	w := walletFlags{key: fs.String("key", defaultWalletPath(), "the wallet's key file ($X402_WALLET)")}
	if withLedger {
		w.ledger = fs.String("ledger", defaultLedgerURL(), "the ledger's HTTP API ($X402_LEDGER)")
		w.genesis = fs.String("genesis", "", "a shard genesis file: use that PBFT shard as the ledger")
	}
	return w
}

// loadWallet reads the wallet key at path.
func loadWallet(path string) (ed25519.PrivateKey, pay.Account, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, pay.Account{}, fmt.Errorf("no wallet key at %s (create one with: x402 wallet new --key %s)", path, path)
	}
	priv, err := keys.Load(path)
	if err != nil {
		return nil, pay.Account{}, err
	}
	return priv, pay.AccountOf(publicKey(priv)), nil
}

// ledgerConn is a ledger client and the signing domain of its chain.
type ledgerConn struct {
	url    string
	c      ledger.Client
	domain pay.Domain
	close  func() error
}

// Close disconnects.
func (l ledgerConn) Close() error {
	if l.close == nil {
		return nil
	}
	return l.close()
}

// connectWalletLedger connects to the shard of --genesis when given, else
// to the ledger at --ledger.
func connectWalletLedger(ctx context.Context, w walletFlags) (ledgerConn, error) {
	if w.genesis == nil || *w.genesis == "" {
		return connectLedger(ctx, *w.ledger)
	}
	g, err := shard.LoadGenesis(*w.genesis)
	if err != nil {
		return ledgerConn{}, err
	}
	c, err := shard.DialLedger(g, nil)
	if err != nil {
		return ledgerConn{}, fmt.Errorf("shard %s: %w", *w.genesis, err)
	}
	return ledgerConn{url: *w.genesis, c: c, domain: g.Ledger.Domain(), close: c.Close}, nil
}

// connectLedger reads the genesis of the ledger at url.
func connectLedger(ctx context.Context, url string) (ledgerConn, error) {
	c := ledger.NewHTTPClient(url)
	g, err := c.Genesis(ctx)
	if err != nil {
		return ledgerConn{}, fmt.Errorf("ledger %s (is it running? see x402 ledger serve): %w", url, err)
	}
	return ledgerConn{url: url, c: c, domain: g.Domain()}, nil
}

// sortedAssets returns the assets of m in a stable order.
func sortedAssets(m map[pay.Asset]pay.Amount) []pay.Asset {
	out := make([]pay.Asset, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// parseAssetAmountFlag parses a flag's "1.5 USD" value as a usage error.
func parseAssetAmountFlag(name, v string) (pay.Amount, pay.Asset, error) {
	// pay.ParseAssetAmount finds the number's end at the last digit, which
	// is inside "X402"; known asset names are cut off first.
	s := strings.TrimSpace(v)
	for _, asset := range []pay.Asset{pay.USD, pay.X402} {
		if num, ok := strings.CutSuffix(s, string(asset)); ok && num != "" {
			a, err := pay.ParseAmount(strings.TrimSpace(num))
			if err != nil {
				return 0, "", usageError{fmt.Sprintf("--%s: %v (want e.g. \"1.5 USD\")", name, err)}
			}
			return a, asset, nil
		}
	}
	a, asset, err := pay.ParseAssetAmount(s)
	if err != nil {
		return 0, "", usageError{fmt.Sprintf("--%s: %v (want e.g. \"1.5 USD\")", name, err)}
	}
	return a, asset, nil
}
