package ledger

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVerifyGroups: a batch is split only onto processors that would idle,
// never into groups too small to batch.
func TestVerifyGroups(t *testing.T) {
	for _, c := range []struct{ n, spare, want int }{
		{n: 200, spare: 0, want: 1}, // every processor busy: one batch, the caller's
		{n: 200, spare: 1, want: 2},
		{n: 200, spare: 3, want: 4},
		{n: 8, spare: 3, want: 2}, // no group under minBatchVerify
		{n: 7, spare: 1, want: 1},
		{n: 1, spare: 5, want: 1},
		{n: 0, spare: 0, want: 1},
	} {
		if got := verifyGroups(c.n, c.spare); got != c.want {
			t.Errorf("verifyGroups(%d, %d) = %d, want %d", c.n, c.spare, got, c.want)
		}
	}
}

// TestSpareProcsSeesBusyProcessors: with a goroutine spinning on every
// processor spareProcs comes to say none is spare, and once they stop it
// comes to say one is (the runtime's counts are approximate, so each is
// polled for until a deadline).
func TestSpareProcsSeesBusyProcessors(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	poll := func(what string, ok func(int) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := spareProcs()
			if ok(n) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("spareProcs never said %s (last: %d of %d)", what, n, runtime.GOMAXPROCS(0))
			}
			runtime.Gosched()
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for !stop.Load() {
			}
		})
	}
	poll("none is spare", func(n int) bool { return n == 0 })
	stop.Store(true)
	wg.Wait()
	poll("one is spare", func(n int) bool { return n >= 1 && n < runtime.GOMAXPROCS(0) })
}
