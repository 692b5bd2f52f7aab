package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/sim"
)

// initSIMFlags are the identity flags of `x402 init`.
type initSIMFlags struct {
	require   bool   // --sim: a SIM must be read
	skip      bool   // --no-sim: do not look for one
	pcsc      string // --pcsc READER
	modem     string // --modem DEVICE
	imsi      string // --imsi: configured identity (not SIM-anchored)
	iccid     string // --iccid
	keyHex    string // --commitment-key HEX
	ledgerURL string // --ledger URL
	register  bool   // --register (default true when --ledger is given)
	timeout   time.Duration
}

// check validates the flag combination; registerSet says whether
// --register was given explicitly.
func (f *initSIMFlags) check(registerSet bool) (key []byte, err error) {
	switch {
	case f.pcsc != "" && f.modem != "":
		return nil, usageError{"init: give --pcsc or --modem, not both"}
	case (f.imsi == "") != (f.iccid == ""):
		return nil, usageError{"init: a configured identity needs both --imsi and --iccid"}
	case f.imsi != "" && (f.pcsc != "" || f.modem != "" || f.require):
		return nil, usageError{"init: --imsi/--iccid configure an identity without a SIM; they exclude --sim, --pcsc and --modem"}
	case f.skip && (f.require || f.pcsc != "" || f.modem != "" || f.imsi != ""):
		return nil, usageError{"init: --no-sim excludes --sim, --pcsc, --modem and --imsi"}
	case registerSet && f.register && f.ledgerURL == "":
		return nil, usageError{"init: --register needs --ledger URL"}
	}
	if f.keyHex != "" {
		if key, err = hex.DecodeString(f.keyHex); err != nil {
			return nil, usageError{fmt.Sprintf("init: --commitment-key: %v", err)}
		}
		if len(key) < sim.MinCommitmentKeyLen {
			return nil, usageError{fmt.Sprintf("init: --commitment-key has %d bytes, want at least %d", len(key), sim.MinCommitmentKeyLen)}
		}
	}
	return key, nil
}

// readInitIdentity reads the identity init binds the account to: the
// configured one, the given reader's, or the discovered SIM's. Without
// --sim, --pcsc or --modem a failure to find or read a SIM is not an error:
// ok is false and the reason is printed.
func readInitIdentity(ctx context.Context, f *initSIMFlags, stdout, stderr io.Writer) (id sim.Identity, ok bool, err error) {
	if f.skip {
		fmt.Fprintln(stdout, "sim      not read (--no-sim); identity is not SIM-anchored")
		return sim.Identity{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	required := f.require || f.pcsc != "" || f.modem != ""
	var r sim.Reader
	switch {
	case f.imsi != "":
		r = sim.ConfigReader{IMSI: f.imsi, ICCID: f.iccid, Name: "init flags"}
		required = true
	case f.pcsc != "":
		r = &sim.PCSCReader{Reader: f.pcsc, Logger: log}
	case f.modem != "":
		r = &sim.ModemReader{Device: f.modem, Timeout: sim.DefaultATTimeout, Logger: log}
	default:
		r, err = sim.Discover(ctx, sim.DiscoverOptions{Logger: log})
	}
	if err == nil {
		id, err = r.ReadIdentity(ctx)
	}
	if err != nil {
		if required {
			return sim.Identity{}, false, fmt.Errorf("init: read SIM: %w", err)
		}
		fmt.Fprintf(stderr, "init: %v\n", err)
		fmt.Fprintln(stdout, "sim      no SIM found; identity is not SIM-anchored")
		return sim.Identity{}, false, nil
	}
	note := "SIM-anchored"
	if !id.Source.SIMAnchored() {
		note = "configured, not SIM-anchored"
	}
	fmt.Fprintf(stdout, "sim      %s (%s)\n", id, note)
	return id, true, nil
}

// initLedger is the ledger init registers on.
type initLedger struct {
	c       ledger.Client
	br      ledger.BindingReader
	genesis ledger.Genesis
}

// dialInitLedger reads the genesis of the ledger at url, so that an
// unreachable ledger fails init before anything is written.
func dialInitLedger(ctx context.Context, url string) (*initLedger, error) {
	c := ledger.NewHTTPClient(url)
	br, ok := c.(ledger.BindingReader)
	if !ok {
		return nil, fmt.Errorf("init: ledger %s: the client cannot read SIM bindings", url)
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	g, err := c.Genesis(gctx)
	if err != nil {
		return nil, fmt.Errorf("init: ledger %s: %w", url, err)
	}
	return &initLedger{c: c, br: br, genesis: g}, nil
}

// register binds priv's account to id on the ledger with a RegisterIdentity
// transaction and prints the binding. An account already bound to the
// same SIM is reported, not registered again. A rejection wraps
// ledger.ErrRejected.
func (il *initLedger) register(ctx context.Context, priv ed25519.PrivateKey, id sim.Identity, key []byte, stdout io.Writer) error {
	acct := pay.AccountOf(priv.Public().(ed25519.PublicKey))
	g := il.genesis
	claim, err := sim.NewClaim(sim.Domain{ChainID: g.Chain, ShardID: g.Shard}, acct[:], id, key, priv)
	if err != nil {
		return fmt.Errorf("register identity: %w", err)
	}
	raw, err := claim.MarshalBinary()
	if err != nil {
		return fmt.Errorf("register identity: %w", err)
	}
	b, bound, err := il.br.Binding(ctx, acct)
	if err != nil {
		return fmt.Errorf("register identity: %w", err)
	}
	if bound && b.IMSICommitment == claim.IMSICommitment {
		fmt.Fprintln(stdout, "binding  already registered")
		printBinding(stdout, g.Chain, b)
		return nil
	}
	if _, err := ledger.SubmitBody(ctx, il.c, g.Domain(), priv, ledger.RegisterIdentity{Claim: raw}); err != nil {
		return fmt.Errorf("register identity: %w", err)
	}
	b, bound, err = il.br.Binding(ctx, acct)
	switch {
	case err != nil:
		return fmt.Errorf("register identity: registered, but reading the binding back: %w", err)
	case !bound || b.IMSICommitment != claim.IMSICommitment:
		return errors.New("register identity: the ledger accepted the registration but does not show the binding")
	}
	printBinding(stdout, g.Chain, b)
	return nil
}

func printBinding(w io.Writer, chain string, b ledger.Binding) {
	anchored := "SIM-anchored"
	if !b.SIMAnchored() {
		anchored = "not SIM-anchored"
	}
	fmt.Fprintf(w, "binding  %s bound on ledger %q to IMSI commitment %s (MCC/MNC %s/%s, %s, %s)\n",
		b.Account, chain, b.IMSICommitment, b.MCC, b.MNC, b.Source, anchored)
}
