package runtime

import (
	"context"
	"testing"
	"time"
)

// allQuiet reports whether every running replica ticks slowly.
func (c *cluster) allQuiet() bool {
	for _, r := range c.reps {
		if r != nil && !r.Status().Quiet {
			return false
		}
	}
	return true
}

// TestIdleReplicasGoQuietAndWakeForARequest: with nothing to do, every
// replica's loop takes its ticks in bursts; a request still executes, and
// the shard goes quiet again after it.
func TestIdleReplicasGoQuietAndWakeForARequest(t *testing.T) {
	c := newCluster(t, clusterOpts{})
	cl := c.client(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.Submit(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every replica to go quiet", c.allQuiet)
	for i := range 3 {
		if _, err := cl.Submit(ctx, []byte("b")); err != nil {
			t.Fatalf("request %d after a quiet spell: %v", i, err)
		}
	}
	waitFor(t, 10*time.Second, "replicas to converge", func() bool { return c.converged(4) })
	for i, a := range c.apps {
		if got := a.count("b"); got != 3 {
			t.Fatalf("replica %d: counter b = %d, want 3", i, got)
		}
	}
	waitFor(t, 10*time.Second, "every replica to go quiet again", c.allQuiet)
}
