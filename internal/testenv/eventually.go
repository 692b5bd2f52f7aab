package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every millisecond until it holds, failing the test
// with what after 10 seconds. It is for state that changes without an event
// to wait on (a counter another goroutine updates); the deadline only bounds
// a broken test.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
