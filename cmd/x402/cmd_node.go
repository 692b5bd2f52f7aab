package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/node"
)

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("node", stderr)
	cfgPath := fs.String("config", "", "the node's config file (see x402 init)")
	drain := fs.Duration("drain", 10*time.Second, "how long live tunnels may finish on shutdown")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageError{"node: --config is required"}
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := node.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	priv, err := keys.Load(cfg.KeyPath())
	if err != nil {
		return err
	}
	n, err := node.Start(cfg, node.Options{Version: version, Key: priv, Logger: log.With("account", keys.AccountID(publicKey(priv)))})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain", drain.String())
	case err = <-n.Errors():
		log.Error("listener failed; shutting down", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if serr := n.Shutdown(sctx); serr != nil {
		log.Warn("shutdown", "err", serr)
	}
	return err
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
