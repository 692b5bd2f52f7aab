package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/x402/x402/shard"
)

// runShard dispatches `x402 shard init|status`.
func runShard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"shard: want init or status"}
	}
	switch args[0] {
	case "init":
		return runShardInit(ctx, args[1:], stdout, stderr)
	case "status":
		return runShardStatus(ctx, args[1:], stdout, stderr)
	default:
		return usageError{fmt.Sprintf("shard: unknown command %q (want init or status)", args[0])}
	}
}

func runShardInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("shard init", stderr)
	dir := fs.String("dir", "", "directory for the shard genesis, the ledger keys and one folder per replica (0700)")
	n := fs.Int("replicas", 4, "number of replicas, 3f+1 (4, 7, 10, ...)")
	basePort := fs.Int("base-port", 0, "first UDP port on 127.0.0.1 (0: free ports)")
	gf := addGenesisFlags(fs)
	asJSON := fs.Bool("json", false, `print {"genesis": PATH, "replicas": [{"id": ID, "config": PATH}]}`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 4 || (*n-1)%3 != 0 {
		return usageError{fmt.Sprintf("shard init: --replicas %d: want 3f+1 with f >= 1 (4, 7, 10, ...)", *n)}
	}
	lg, _, err := gf.genesis("shard init", *dir)
	if err != nil {
		return err
	}
	res, err := shard.Init(*dir, *n, lg, *basePort)
	if err != nil {
		return fmt.Errorf("shard init: %w", err)
	}
	if *asJSON {
		return writeJSONLine(stdout, res)
	}
	fmt.Fprintf(stdout, "shard genesis  %s (%d replicas, f = %d)\n", res.Genesis, *n, (*n-1)/3)
	for _, r := range res.Replicas {
		fmt.Fprintf(stdout, "replica %d      %s\n", r.ID, r.Config)
	}
	fmt.Fprintf(stdout, "\nNext: x402 replica --config %s   (one per replica)\n", res.Replicas[0].Config)
	return nil
}

func runShardStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("shard status", stderr)
	genPath := fs.String("genesis", "", "the shard genesis file")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for each replica")
	asJSON := fs.Bool("json", false, `print {"replicas": [{"id", "reachable", "view", "executed", "stable_checkpoint", "digest"}]}`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *genPath == "" {
		return usageError{"shard status: --genesis is required"}
	}
	g, err := shard.LoadGenesis(*genPath)
	if err != nil {
		return err
	}
	sts, err := shard.QueryStatus(ctx, g, *timeout)
	if err != nil {
		return fmt.Errorf("shard status: %w", err)
	}
	if *asJSON {
		return writeJSONLine(stdout, struct {
			Replicas []shard.ReplicaStatus `json:"replicas"`
		}{sts})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "replica\taddress\treachable\tview\texecuted\tcheckpoint\tdigest")
	for _, s := range sts {
		digest := "-"
		if len(s.Digest) >= 16 {
			digest = s.Digest[:16]
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%d\t%d\t%d\t%s\n", s.ID, s.Address, s.Reachable, s.View, s.Executed, s.StableCheckpoint, digest)
	}
	return tw.Flush()
}
