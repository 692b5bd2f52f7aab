package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/node"
)

func runInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", stderr)
	dir := fs.String("dir", "", "directory for the node's key, config and state (created 0700)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"init: --dir is required"}
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := os.Chmod(*dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	keyPath := filepath.Join(*dir, "node.key")
	cfgPath := filepath.Join(*dir, "x402.toml")
	for _, p := range []string{keyPath, cfgPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("init: %s already exists; refusing to overwrite", p)
		}
	}
	priv, err := keys.Generate()
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := keys.Save(keyPath, priv); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := node.WriteDefault(cfgPath); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(stdout, "account  %s\nkey      %s\nconfig   %s\n\nNext: add buyers to the config, then run: x402 node --config %s\n",
		keys.AccountID(publicKey(priv)), keyPath, cfgPath, cfgPath)
	return nil
}
