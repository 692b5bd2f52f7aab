package runtime

import (
	"testing"
	"time"
)

func TestLatencyEstimateTimeout(t *testing.T) {
	var e latencyEstimate
	lo, hi := 100*time.Millisecond, time.Second
	if got := e.timeout(lo, hi); got != hi {
		t.Fatalf("no samples: %v, want %v", got, hi)
	}
	e.observe(10 * time.Millisecond)
	if got := e.timeout(lo, hi); got != lo {
		t.Fatalf("fast shard: %v, want the floor %v", got, lo)
	}
	for range 64 {
		e.observe(50 * time.Millisecond)
	}
	if got := e.timeout(lo, hi); got < 380*time.Millisecond || got > 400*time.Millisecond {
		t.Fatalf("50 ms finality: %v, want about 8 × 50 ms", got)
	}
	for range 64 {
		e.observe(time.Second)
	}
	if got := e.timeout(lo, hi); got != hi {
		t.Fatalf("slow shard: %v, want the ceiling %v", got, hi)
	}
}

// TestUnsignedRequestsWaitLongerOnASlowShard: on a shard slower than the
// ceiling, a signed request (sent to the primary alone) is retransmitted at
// the ceiling, an unsigned one (sent to every replica) waits up to four
// times longer; on a fast shard both follow the finality.
func TestUnsignedRequestsWaitLongerOnASlowShard(t *testing.T) {
	c := &Client{minRetransmit: 150 * time.Millisecond, maxRetransmit: 500 * time.Millisecond}
	for range 64 {
		c.latency.observe(time.Second)
	}
	if signed, unsigned := c.retransmitTimeout(false), c.retransmitTimeout(true); signed != 500*time.Millisecond || unsigned != 2*time.Second {
		t.Fatalf("1 s finality: signed %v, unsigned %v; want 500ms and 2s", signed, unsigned)
	}
	fast := &Client{minRetransmit: 150 * time.Millisecond, maxRetransmit: 500 * time.Millisecond}
	for range 64 {
		fast.latency.observe(40 * time.Millisecond)
	}
	if signed, unsigned := fast.retransmitTimeout(false), fast.retransmitTimeout(true); signed != unsigned || signed < 300*time.Millisecond || signed > 320*time.Millisecond {
		t.Fatalf("40 ms finality: signed %v, unsigned %v; want both about 8 × 40 ms", signed, unsigned)
	}
}
