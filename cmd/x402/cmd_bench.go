package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/x402/x402/consensus/runtime/transport"
	"github.com/x402/x402/shard"
)

// runBench dispatches `x402 bench shard`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "shard" {
		return usageError{"bench: want shard"}
	}
	fs := newFlags("bench shard", stderr)
	var cfg shard.BenchConfig
	fs.StringVar(&cfg.Genesis, "genesis", "", "load a running shard (default: an in-process shard on loopback)")
	fs.IntVar(&cfg.Replicas, "replicas", 4, "replicas of the in-process shard (3f+1)")
	fs.DurationVar(&cfg.Delay, "delay", 0, "one-way delay injected on every link (in-process shard)")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "offered transactions per second (0: as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "how long the load is offered")
	fs.IntVar(&cfg.Senders, "senders", 0, fmt.Sprintf("accounts submitting in parallel, at most %d (0: enough for --rate at --delay, at least 64; 768 with --rate 0)", transport.MaxAttach))
	fs.DurationVar(&cfg.KillPrimaryAfter, "kill-primary-after", 0, "stop the primary this far into the load and report the time to the next commit (in-process shard)")
	asJSON := fs.Bool("json", false, `print {"submitted", "committed", "failed", "tps", "finality_ms_p50", "finality_ms_p99"}`)
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured window to this file")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if cfg.Replicas < 4 || (cfg.Replicas-1)%3 != 0 {
		return usageError{"bench shard: --replicas must be 3f+1 (4, 7, ...)"}
	}
	if cfg.Senders > transport.MaxAttach {
		return usageError{fmt.Sprintf("bench shard: --senders must be at most %d (one client connection's identities)", transport.MaxAttach)}
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench shard: %w", err)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	res, err := shard.Bench(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("bench shard: %w", err)
	}
	if *asJSON {
		return writeJSONLine(stdout, res)
	}
	fmt.Fprintf(stdout, "%d replicas, %.0f ms one-way delay: %d submitted, %d committed, %d failed; %.0f tx/s; finality p50 %.1f ms, p99 %.1f ms\n",
		res.Replicas, res.DelayMs, res.Submitted, res.Committed, res.Failed, res.TPS, res.FinalityMsP50, res.FinalityMsP99)
	if ph := res.Phases; ph != nil {
		fmt.Fprintf(stdout, "batch steps (median of %d): pre-prepare %.1f ms, prepare %.1f ms (primary %.1f ms from its pre-prepare), commit %.1f ms\n",
			ph.Batches, ph.PrePrepare, ph.Prepare, ph.PrimaryPrepare, ph.Commit)
	}
	if res.PrimaryKilledToCommitMs > 0 {
		fmt.Fprintf(stdout, "primary stopped: next transaction committed %.0f ms later\n", res.PrimaryKilledToCommitMs)
	}
	return nil
}
