package main

import (
	"context"
	"fmt"
	"io"

	"github.com/x402/x402/shard"
)

func runReplica(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replica", stderr)
	cfgPath := fs.String("config", "", "the replica's config (see x402 shard init)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usageError{"replica: --config is required"}
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := shard.LoadReplicaConfig(*cfgPath)
	if err != nil {
		return err
	}
	m, err := shard.StartReplica(cfg, log)
	if err != nil {
		return err
	}
	log.Info("replica started", "id", cfg.ID)
	select {
	case <-ctx.Done():
	case <-m.Done():
		err = fmt.Errorf("replica %d stopped: %w", cfg.ID, m.Err())
	}
	if cerr := m.Close(); cerr != nil && err == nil {
		err = cerr
	}
	log.Info("replica stopped", "id", cfg.ID)
	return err
}
