package pbft

import (
	"crypto/ed25519"
	"testing"
)

// signedRequest is client k's request at timestamp 1.
func signedRequest(k int, op string) *Request {
	key := testKey("client", k)
	q := &Request{Timestamp: 1, Op: []byte(op)}
	copy(q.Client[:], key.Public().(ed25519.PublicKey))
	Sign(testDomain, key, q)
	return q
}

// proposals returns the pre-prepares n sends now, early or in its Ready.
func proposals(n *Node) []*PrePrepare {
	var out []*PrePrepare
	take := func(obs []Outbound) {
		for _, ob := range obs {
			if pp, ok := ob.Msg.(*PrePrepare); ok {
				out = append(out, pp)
			}
		}
	}
	take(n.Ahead())
	if n.HasReady() {
		take(n.Ready().Messages)
		n.Advance()
	}
	return out
}

// TestPrimarySpacesBatchesThatAreNotFull: with batches taking 40 ticks
// from proposal to execution and 4 paced for, a batch that is not full
// leaves 10 ticks after the one before it, not at the next tick; a full
// batch leaves at once.
func TestPrimarySpacesBatchesThatAreNotFull(t *testing.T) {
	c := newClusterWith(t, 4, func(cfg *Config) { cfg.MaxBatch, cfg.PipelineDepth = 3, 4 })
	p := c.nodes[0]
	step := func(q *Request) {
		t.Helper()
		if err := p.Step(q); err != nil {
			t.Fatal(err)
		}
	}
	step(signedRequest(1, "a"))
	p.Tick()
	if got := proposals(p); len(got) != 1 || len(got[0].Batch) != 1 {
		t.Fatalf("the first request was proposed as %v", got)
	}
	p.pace.cycle8 = 8 * 40 // as if batches had been taking 40 ticks
	step(signedRequest(2, "b"))
	for tick := 1; tick < 10; tick++ {
		p.Tick()
		if got := proposals(p); len(got) != 0 {
			t.Fatalf("a batch that is not full left %d ticks after the last one", tick)
		}
	}
	p.Tick()
	if got := proposals(p); len(got) != 1 || len(got[0].Batch) != 1 {
		t.Fatalf("10 ticks after the last batch, proposed %v", got)
	}
	for k := 3; k < 6; k++ {
		step(signedRequest(k, "c"))
	}
	if got := proposals(p); len(got) != 1 || len(got[0].Batch) != 3 {
		t.Fatalf("a full batch did not leave at once: %v", got)
	}
}

// TestPrimaryLearnsHowLongItsBatchesTake: the primary times its own batches
// from proposal to execution, in ticks; backups time nothing.
func TestPrimaryLearnsHowLongItsBatchesTake(t *testing.T) {
	c := newCluster(t, 4)
	p := c.nodes[0]
	// Every message waits 5 ticks on the way: the batch is proposed at a
	// tick, reaches the backups 5 ticks later, and everything after that
	// is delivered at once.
	c.queue("slow")
	for c.result == nil {
		for range 5 {
			for i, n := range c.nodes {
				n.Tick()
				c.collect(i, n)
			}
		}
		c.run(nil)
	}
	if got := p.pace.cycle8 / 8; got < 1 || got > 5 {
		t.Fatalf("the primary learned its batch takes %d ticks (%d/8), want 1 to 5", got, p.pace.cycle8)
	}
	if backup := c.nodes[1].pace.cycle8; backup != 0 {
		t.Fatalf("a backup timed batches it did not propose: %d", backup)
	}
}
