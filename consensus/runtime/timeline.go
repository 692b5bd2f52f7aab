package runtime

import (
	"time"

	"github.com/x402/x402/consensus/pbft"
)

// BatchTimes is when one replica reached each step of one batch's path,
// taken when it sent what the step produced (zero for a step it did not
// take: a backup proposes nothing, the primary prepares nothing).
type BatchTimes struct {
	Replica uint32
	Seq     uint64
	// Proposed: the primary sent the batch's pre-prepare.
	Proposed time.Time
	// Accepted: a backup sent its prepare (it accepted the pre-prepare).
	Accepted time.Time
	// Certified: the replica sent its commit, its prepared certificate
	// being durable; the batch runs ahead (tentative replies) at once.
	Certified time.Time
	// Executed: the batch committed here and the Ready reporting it was
	// completed.
	Executed time.Time
}

// timeline collects a replica's BatchTimes until their batches execute.
// It belongs to the event loop.
type timeline struct {
	id   uint32
	open map[uint64]*BatchTimes
}

func newTimeline(id uint32) *timeline {
	return &timeline{id: id, open: map[uint64]*BatchTimes{}}
}

// sent notes this replica's pre-prepares, prepares and commits (the first
// of each per sequence number: retransmissions do not move a step).
func (t *timeline) sent(m pbft.Message, now time.Time) {
	var seq uint64
	var step func(*BatchTimes) *time.Time
	switch m := m.(type) {
	case *pbft.PrePrepare:
		seq, step = m.Seq, func(b *BatchTimes) *time.Time { return &b.Proposed }
	case *pbft.Prepare:
		seq, step = m.Seq, func(b *BatchTimes) *time.Time { return &b.Accepted }
	case *pbft.Commit:
		seq, step = m.Seq, func(b *BatchTimes) *time.Time { return &b.Certified }
	default:
		return
	}
	if id, ok := pbft.Sender(m); !ok || id != t.id {
		return
	}
	b := t.open[seq]
	if b == nil {
		b = &BatchTimes{Replica: t.id, Seq: seq}
		t.open[seq] = b
	}
	if at := step(b); at.IsZero() {
		*at = now
	}
}

// executed closes seq's times, and forgets those of every sequence number
// below it (batches this replica got by state transfer never execute here).
func (t *timeline) executed(seq uint64, now time.Time) BatchTimes {
	out := BatchTimes{Replica: t.id, Seq: seq}
	if b := t.open[seq]; b != nil {
		out = *b
	}
	out.Executed = now
	for s := range t.open {
		if s <= seq {
			delete(t.open, s)
		}
	}
	return out
}
