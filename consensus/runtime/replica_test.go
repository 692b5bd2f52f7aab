package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/storage"
	"github.com/x402/x402/consensus/runtime/transport"
)

func TestClusterOrdersConcurrentOps(t *testing.T) {
	c := newCluster(t, clusterOpts{})
	cl := c.client(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ops []string
	for i := range 200 {
		ops = append(ops, fmt.Sprintf("k%d", i%10))
	}
	if err := submitAll(ctx, cl, ops, 32, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "replicas to converge", func() bool { return c.converged(200) })
	for i, a := range c.apps {
		for k := range 10 {
			if got := a.count(fmt.Sprintf("k%d", k)); got != 20 {
				t.Fatalf("replica %d: counter k%d = %d, want 20 (exactly once)", i, k, got)
			}
		}
	}
	// The runtime lets prepared batches run ahead of their commit.
	tentative := uint64(0)
	for _, r := range c.reps {
		tentative += r.Status().Metrics.BatchesTentative
	}
	if tentative == 0 {
		t.Fatal("no batch ran ahead of its commit: the runtime never called Ahead")
	}
	t.Log(c.describe())
}

// TestPrimaryCrashAndRestart: the primary dies mid-load, the others change
// view and every submitted operation completes; restarted from its state
// file after the log was truncated past it, it catches up by state transfer.
func TestPrimaryCrashAndRestart(t *testing.T) {
	c := newCluster(t, clusterOpts{tune: func(cfg *pbft.Config) {
		cfg.CheckpointInterval, cfg.Window = 4, 8
		cfg.MaxBatch = 4
	}})
	cl := c.client(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ops []string
	for i := range 300 {
		ops = append(ops, fmt.Sprintf("k%d", i%10))
	}
	var completed atomic.Int64
	loadDone := make(chan error, 1)
	go func() { loadDone <- submitAll(ctx, cl, ops, 16, func() { completed.Add(1) }) }()
	waitFor(t, 20*time.Second, "the first 60 operations", func() bool { return completed.Load() >= 60 })
	c.stop(0) // the primary of view 0
	crashedAt := completed.Load()
	if err := <-loadDone; err != nil {
		t.Fatalf("load after the primary crashed at %d/%d: %v", crashedAt, len(ops), err)
	}
	for i := 1; i < 4; i++ {
		if st := c.reps[i].Status(); st.View == 0 {
			t.Fatalf("replica %d still in view 0 after its primary died: %s", i, c.describe())
		}
	}
	waitFor(t, 10*time.Second, "survivors to converge", func() bool { return c.converged(300) })

	c.restart(0)
	waitFor(t, 20*time.Second, "the restarted replica to catch up", func() bool { return c.converged(300) })
	// It takes part again: more load, everyone converges.
	if err := submitAll(ctx, cl, ops[:40], 8, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "all four to converge", func() bool { return c.converged(340) })
	for i, a := range c.apps {
		for k := range 10 {
			if got := a.count(fmt.Sprintf("k%d", k)); got != 34 {
				t.Fatalf("replica %d: counter k%d = %d, want 34 (exactly once): %s", i, k, got, c.describe())
			}
		}
	}
	if st := c.reps[0].Status(); st.Metrics.StateTransfers == 0 {
		t.Fatalf("the restarted replica caught up without a state transfer although the log was truncated past it: %s", c.describe())
	}
	t.Logf("crashed after %d ops; %s", crashedAt, c.describe())
}

// TestImpairedLinks: with 5% loss and 5 ms one-way delay on every link,
// operations still complete.
func TestImpairedLinks(t *testing.T) {
	c := newCluster(t, clusterOpts{impairment: transport.Impairment{Delay: 5 * time.Millisecond, Loss: 0.05, Seed: 7}})
	cl := c.client(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ops []string
	for i := range 100 {
		ops = append(ops, fmt.Sprintf("k%d", i%5))
	}
	start := time.Now()
	if err := submitAll(ctx, cl, ops, 16, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "replicas to converge", func() bool { return c.converged(100) })
	t.Logf("100 ops in %v over impaired links: %s", time.Since(start), c.describe())
}

// TestQueryStatus asks a running replica for its status over the transport.
func TestQueryStatus(t *testing.T) {
	c := newCluster(t, clusterOpts{})
	cl := c.client(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := submitAll(ctx, cl, []string{"a", "b", "c"}, 2, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "replicas to converge", func() bool { return c.converged(3) })
	for i, r := range c.reps {
		got, err := QueryStatus(ctx, c.addrs[i], c.pubs[i])
		if err != nil {
			t.Fatal(err)
		}
		want := r.Status()
		want.Metrics, want.Saves, want.SaveTime, want.Quiet = pbft.Metrics{}, 0, 0, false
		if got != want {
			t.Fatalf("replica %d: remote status %+v, local %+v", i, got, want)
		}
	}
	// The wrong key for an address is refused.
	if _, err := QueryStatus(ctx, c.addrs[0], c.pubs[1]); err == nil {
		t.Fatal("status query accepted a replica presenting another key")
	}
	// A stopped replica is unreachable within the deadline.
	c.stop(3)
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if _, err := QueryStatus(short, c.addrs[3], c.pubs[3]); err == nil {
		t.Fatal("a stopped replica answered")
	}
}

// TestCorruptStateFile: a replica refuses to start from a damaged or
// foreign state file, with a clear error.
func TestCorruptStateFile(t *testing.T) {
	c := newCluster(t, clusterOpts{})
	cl := c.client(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := submitAll(ctx, cl, []string{"a", "b", "c", "d"}, 2, nil); err != nil {
		t.Fatal(err)
	}
	c.stop(2)
	path := c.statePath(2)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Repeat([]byte{0xA5}, len(good))
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Start(c.config(2, nil))
	if err == nil {
		t.Fatal("a replica started from a garbage state file")
	}
	t.Logf("garbage file: %v", err)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the file", err)
	}
	// Another replica's file is refused as foreign.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := c.config(2, nil)
	cfg.StatePath = c.statePath(1)
	if c.reps[1] != nil {
		c.stop(1)
	}
	_, err = Start(cfg)
	if !errors.Is(err, storage.ErrForeign) {
		t.Fatalf("starting replica 2 from replica 1's file: %v, want ErrForeign", err)
	}
	// The intact file still works.
	c.restart(2)
}
