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
