package runtime

import (
	"testing"
	"time"

	"github.com/x402/x402/consensus/pbft"
)

func TestTimelineRecordsEachStepOnce(t *testing.T) {
	tl := newTimeline(1)
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl.sent(&pbft.Prepare{Seq: 5, Replica: 1}, at(25))
	tl.sent(&pbft.Prepare{Seq: 5, Replica: 2}, at(26)) // not ours
	tl.sent(&pbft.Commit{Seq: 5, Replica: 1}, at(52))
	tl.sent(&pbft.Commit{Seq: 5, Replica: 1}, at(90)) // a retransmission
	tl.sent(&pbft.Reply{Replica: 1}, at(53))
	tl.sent(&pbft.Prepare{Seq: 4, Replica: 1}, at(10)) // never executes here
	tl.sent(&pbft.Prepare{Seq: 6, Replica: 1}, at(30))
	got := tl.executed(5, at(80))
	want := BatchTimes{Replica: 1, Seq: 5, Accepted: at(25), Certified: at(52), Executed: at(80)}
	if got != want {
		t.Fatalf("times %+v, want %+v", got, want)
	}
	if _, ok := tl.open[4]; ok || len(tl.open) != 1 {
		t.Fatalf("open after executing 5: %v, want only 6", tl.open)
	}
	primary := newTimeline(0)
	primary.sent(&pbft.PrePrepare{Seq: 7, Replica: 0}, at(1))
	if got := primary.executed(7, at(100)); got.Proposed != at(1) || !got.Accepted.IsZero() {
		t.Fatalf("primary's times %+v", got)
	}
}
