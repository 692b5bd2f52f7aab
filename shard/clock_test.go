package shard

import (
	"testing"
	"time"

	"github.com/x402/x402/pay/ledger"
)

// TestClockReportsSlowDownWhenIdle: a replica reports at every tick while
// the ledger is in use and for ClockIdleAfter after its last other op (or
// its start), then every ClockReportIdleEvery, and at every tick again as
// soon as anything else applies.
func TestClockReportsSlowDownWhenIdle(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	tick := ledger.ClockReportEvery
	p := clockPace{active: start, seen: 7}
	at := func(d time.Duration) time.Time { return start.Add(d) }
	report := func(now time.Time, activity uint64) bool {
		if p.due(now, activity) {
			p.reported = now
			return true
		}
		return false
	}
	if !report(at(0), 7) || !report(at(tick), 7) {
		t.Fatal("a replica that just started does not report at every tick")
	}
	if !report(at(ledger.ClockIdleAfter-tick), 7) {
		t.Fatal("no report within ClockIdleAfter of the start")
	}
	idle := ledger.ClockIdleAfter + tick
	if report(at(idle), 7) {
		t.Fatal("an idle ledger still gets a report at every tick")
	}
	reports := 0
	for d := idle; d < idle+4*ledger.ClockReportIdleEvery; d += tick {
		if report(at(d), 7) {
			reports++
		}
	}
	if reports != 4 {
		t.Fatalf("%d reports in 4 idle periods, want 4", reports)
	}
	busy := idle + 4*ledger.ClockReportIdleEvery
	if !report(at(busy), 8) || !report(at(busy+tick), 8) {
		t.Fatal("reports did not come at every tick again once another op applied")
	}
}
