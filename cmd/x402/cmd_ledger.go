package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// runLedger runs `x402 ledger init|serve`.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "ledger", []subcommand{
		{"init", "write a development ledger's genesis and its issuer and fee keys", runLedgerInit},
		{"serve", "serve a single-node ledger over HTTP until SIGINT/SIGTERM", runLedgerServe},
	}, args, stdout, stderr)
}

// ledgerInitJSON is what `x402 ledger init --json` prints.
type ledgerInitJSON struct {
	Genesis    string `json:"genesis"`
	Chain      string `json:"chain"`
	Issuer     string `json:"issuer"`
	IssuerKey  string `json:"issuer_key"`
	FeeAccount string `json:"fee_account"`
	FeeKey     string `json:"fee_key"`
	FeePPM     uint32 `json:"fee_ppm"`
	Faucet     string `json:"faucet,omitempty"`
}

// genesisFlags are the ledger parameters `ledger init` and `shard init`
// share.
type genesisFlags struct {
	chain      *string
	feePPM     *uint
	faucet     *string
	allocs     stringList
	minC, maxC *time.Duration
	requireSIM *bool
}

func addGenesisFlags(fs *flag.FlagSet) *genesisFlags {
	f := &genesisFlags{
		chain:      fs.String("chain", "x402-dev", "the chain id (part of every signature)"),
		feePPM:     fs.Uint("fee-ppm", 10, "fee in parts per million of every payment"),
		faucet:     fs.String("faucet", "100 USD", `what the faucet gives each account once ("" for no faucet)`),
		minC:       fs.Duration("min-challenge", time.Second, "shortest challenge period a channel may have"),
		maxC:       fs.Duration("max-challenge", 24*time.Hour, "longest challenge period a channel may have"),
		requireSIM: fs.Bool("require-sim", false, "sellers must be bound to a SIM (RegisterIdentity) to open channels and to run"),
	}
	fs.Var(&f.allocs, "alloc", `initial balance "ACCOUNT=AMOUNT ASSET" (repeatable)`)
	return f
}

// genesis checks the flags, refuses to overwrite anything in dir, and then
// creates dir (0700) with the issuer and fee keys, returning the ledger
// genesis and its description.
func (f *genesisFlags) genesis(cmd, dir string, more ...string) (ledger.Genesis, ledgerInitJSON, error) {
	if dir == "" {
		return ledger.Genesis{}, ledgerInitJSON{}, usageError{cmd + ": --dir is required"}
	}
	if *f.feePPM > 1_000_000 {
		return ledger.Genesis{}, ledgerInitJSON{}, usageError{cmd + ": --fee-ppm must be at most 1000000"}
	}
	g := ledger.Genesis{Chain: *f.chain, FeePPM: uint32(*f.feePPM), MinChallenge: *f.minC, MaxChallenge: *f.maxC, RequireSIMForSellers: *f.requireSIM}
	if *f.faucet != "" {
		amt, asset, err := parseAssetAmountFlag("faucet", *f.faucet)
		if err != nil {
			return g, ledgerInitJSON{}, err
		}
		g.Faucet = &ledger.FaucetParams{Asset: asset, Amount: amt}
	}
	for _, a := range f.allocs {
		al, err := parseAlloc(a)
		if err != nil {
			return g, ledgerInitJSON{}, err
		}
		g.Allocations = append(g.Allocations, al)
	}
	genPath := filepath.Join(dir, "genesis.json")
	issuerPath := filepath.Join(dir, "issuer.key")
	feePath := filepath.Join(dir, "fee.key")
	for _, p := range append([]string{genPath, issuerPath, feePath}, more...) {
		if _, err := os.Stat(p); err == nil {
			return g, ledgerInitJSON{}, fmt.Errorf("%s: %s already exists; refusing to overwrite", cmd, p)
		}
	}
	// Validate before any file is written, with placeholder accounts.
	check := g
	check.FeeAccount, check.Issuer = pay.Account{1}, pay.Account{1}
	if err := check.Validate(); err != nil {
		return g, ledgerInitJSON{}, usageError{cmd + ": " + err.Error()}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return g, ledgerInitJSON{}, fmt.Errorf("%s: %w", cmd, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return g, ledgerInitJSON{}, fmt.Errorf("%s: %w", cmd, err)
	}
	issuer, err := newKeyFile(issuerPath)
	if err != nil {
		return g, ledgerInitJSON{}, fmt.Errorf("%s: %w", cmd, err)
	}
	fee, err := newKeyFile(feePath)
	if err != nil {
		return g, ledgerInitJSON{}, fmt.Errorf("%s: %w", cmd, err)
	}
	g.Issuer, g.FeeAccount = issuer, fee
	out := ledgerInitJSON{Genesis: genPath, Chain: g.Chain, Issuer: issuer.String(), IssuerKey: issuerPath,
		FeeAccount: fee.String(), FeeKey: feePath, FeePPM: g.FeePPM}
	if g.Faucet != nil {
		out.Faucet = g.Faucet.Amount.Format(g.Faucet.Asset)
	}
	return g, out, nil
}

func runLedgerInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ledger init", stderr)
	dir := fs.String("dir", "", "directory for genesis.json, issuer.key and fee.key (created 0700)")
	gf := addGenesisFlags(fs)
	asJSON := fs.Bool("json", false, "print machine-readable JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	g, out, err := gf.genesis("ledger init", *dir)
	if err != nil {
		return err
	}
	if err := g.Save(out.Genesis); err != nil {
		return fmt.Errorf("ledger init: %w", err)
	}
	if *asJSON {
		return writeJSONLine(stdout, out)
	}
	fmt.Fprintf(stdout, "chain        %s\ngenesis      %s\nissuer       %s\nfee account  %s\nfee          %d ppm\nfaucet       %s\n\nNext: x402 ledger serve --genesis %s --dir %s\n",
		out.Chain, out.Genesis, out.Issuer, out.FeeAccount, out.FeePPM, orDash(out.Faucet), out.Genesis, *dir)
	return nil
}

// parseAlloc parses "ACCOUNT=AMOUNT ASSET".
func parseAlloc(s string) (ledger.Allocation, error) {
	acc, amt, ok := strings.Cut(s, "=")
	if !ok {
		return ledger.Allocation{}, usageError{fmt.Sprintf("--alloc %q: want ACCOUNT=AMOUNT ASSET", s)}
	}
	a, err := pay.ParseAccount(strings.TrimSpace(acc))
	if err != nil {
		return ledger.Allocation{}, usageError{fmt.Sprintf("--alloc %q: %v", s, err)}
	}
	amount, asset, err := parseAssetAmountFlag("alloc", amt)
	if err != nil {
		return ledger.Allocation{}, err
	}
	return ledger.Allocation{Account: a, Asset: asset, Amount: amount}, nil
}

// newKeyFile generates a key, saves it at path (0600) and returns its account.
func newKeyFile(path string) (pay.Account, error) {
	priv, err := keys.Generate()
	if err != nil {
		return pay.Account{}, err
	}
	if err := keys.Save(path, priv); err != nil {
		return pay.Account{}, err
	}
	return pay.AccountOf(publicKey(priv)), nil
}

func runLedgerServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ledger serve", stderr)
	genPath := fs.String("genesis", "", "the genesis file (see x402 ledger init)")
	dir := fs.String("dir", "", "directory of ledger.db (default: the genesis file's directory)")
	listen := fs.String("listen", "127.0.0.1:9500", "HTTP listen address")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *genPath == "" {
		return usageError{"ledger serve: --genesis is required"}
	}
	if *dir == "" {
		*dir = filepath.Dir(*genPath)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	g, err := ledger.LoadGenesis(*genPath)
	if err != nil {
		return fmt.Errorf("ledger serve: %w", err)
	}
	l, err := ledger.Open(filepath.Join(*dir, "ledger.db"), g)
	if err != nil {
		return fmt.Errorf("ledger serve: %w", err)
	}
	defer l.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("ledger serve: %w", err)
	}
	srv := &http.Server{
		Handler:           ledger.NewHTTPHandler(ledger.NewSequencer(l, time.Now)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("ledger started", "url", url, "chain", g.Chain, "shard", g.Shard, "db", filepath.Join(*dir, "ledger.db"))
	fmt.Fprintf(stdout, "ledger serving on %s\n", url)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-served:
		return fmt.Errorf("ledger serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("serve", "err", err)
	}
	log.Info("ledger stopped")
	return nil
}
