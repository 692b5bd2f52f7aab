package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/node"
	"github.com/x402/x402/pay/ledger"
)

func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", stderr)
	dir := fs.String("dir", "", "directory for the node's key, config and state (created 0700)")
	var f initSIMFlags
	fs.BoolVar(&f.require, "sim", false, "require a SIM (default: look for one and continue without)")
	fs.BoolVar(&f.skip, "no-sim", false, "do not look for a SIM")
	fs.StringVar(&f.pcsc, "pcsc", "", "read the SIM in this PC/SC reader (implies --sim)")
	fs.StringVar(&f.modem, "modem", "", "read the SIM through this modem AT port, e.g. /dev/ttyUSB2 (implies --sim)")
	fs.StringVar(&f.imsi, "imsi", "", "configured IMSI for a device without a SIM (with --iccid; not SIM-anchored)")
	fs.StringVar(&f.iccid, "iccid", "", "configured ICCID for a device without a SIM (with --imsi)")
	fs.StringVar(&f.keyHex, "commitment-key", "", "the network's SIM commitment key in hex (needed to register)")
	fs.StringVar(&f.ledgerURL, "ledger", "", "the ledger's HTTP API base URL, to register the SIM identity on")
	fs.BoolVar(&f.register, "register", true, "with --ledger: bind the account to the SIM on the ledger; given explicitly on an existing --dir, registers its key")
	fs.DurationVar(&f.timeout, "sim-timeout", 30*time.Second, "give up reading the SIM after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"init: --dir is required"}
	}
	registerSet := false
	fs.Visit(func(fl *flag.Flag) { registerSet = registerSet || fl.Name == "register" })
	commitKey, err := f.check(registerSet)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(*dir, "node.key")
	cfgPath := filepath.Join(*dir, "x402.toml")
	// An explicit --register on an initialised directory registers its key
	// and writes nothing.
	reuse := false
	for _, p := range []string{keyPath, cfgPath} {
		if _, err := os.Stat(p); err == nil {
			if p == keyPath && registerSet && f.register && f.ledgerURL != "" {
				reuse = true
				continue
			}
			if !reuse {
				return fmt.Errorf("init: %s already exists; refusing to overwrite", p)
			}
		}
	}

	id, haveID, err := readInitIdentity(ctx, &f, stdout, stderr)
	if err != nil {
		return err
	}
	registering := f.ledgerURL != "" && f.register && haveID
	if f.ledgerURL != "" && f.register && !haveID && registerSet {
		return errors.New("init: --register: there is no SIM identity to register")
	}
	var il *initLedger
	if registering {
		if commitKey == nil {
			return usageError{"init: registering the SIM identity needs the network's --commitment-key HEX"}
		}
		if il, err = dialInitLedger(ctx, f.ledgerURL); err != nil {
			return err
		}
	}

	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := os.Chmod(*dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	var priv ed25519.PrivateKey
	var written []string
	if reuse {
		if priv, err = keys.Load(keyPath); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		fmt.Fprintf(stdout, "account  %s\nkey      %s (existing)\n", keys.AccountID(publicKey(priv)), keyPath)
	} else {
		if priv, err = keys.Generate(); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := keys.Save(keyPath, priv); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		written = append(written, keyPath)
		if err := node.WriteDefault(cfgPath); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		written = append(written, cfgPath)
		fmt.Fprintf(stdout, "account  %s\nkey      %s\nconfig   %s\n", keys.AccountID(publicKey(priv)), keyPath, cfgPath)
	}

	switch {
	case registering:
		if err := il.register(ctx, priv, id, commitKey, stdout); err != nil {
			if errors.Is(err, ledger.ErrRejected) && !reuse {
				// Definitely not bound: remove the new key, so init can run again.
				for _, p := range written {
					os.Remove(p)
				}
				return fmt.Errorf("init: %w (removed the new key and config)", err)
			}
			if reuse {
				return fmt.Errorf("init: %w", err)
			}
			return fmt.Errorf("init: %w; kept the key and config: retry with x402 init --dir %s --register --ledger %s --commitment-key HEX and the same SIM flags", err, *dir, f.ledgerURL)
		}
	case f.ledgerURL != "" && !f.register:
		fmt.Fprintln(stdout, "binding  not registered (--register=false)")
	case f.ledgerURL != "":
		fmt.Fprintln(stdout, "binding  not registered: no SIM identity")
	}
	if !reuse {
		fmt.Fprintf(stdout, "\nNext: add buyers to the config, then run: x402 node --config %s\n", cfgPath)
	}
	return nil
}
