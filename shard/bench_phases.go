package shard

import (
	"slices"
	"sync"
	"time"

	"github.com/x402/x402/consensus/runtime"
)

// BenchPhases are the medians, in milliseconds, of the steps of a batch's
// path through an in-process shard, timed on the replicas (see
// runtime.BatchTimes). With a one-way delay D on every link the protocol's
// floors are D for PrePrepare, Prepare and Commit and 2D for
// PrimaryPrepare; what the client adds (its request and the replies, the
// wait for a batch) is the finality less these.
type BenchPhases struct {
	// PrePrepare: the primary sent the pre-prepare → a backup accepted it.
	PrePrepare float64 `json:"pre_prepare"`
	// Prepare: a backup accepted → its prepared certificate was durable
	// (the batch runs ahead and its tentative replies go out).
	Prepare float64 `json:"prepare"`
	// PrimaryPrepare: the primary sent the pre-prepare → its own
	// certificate was durable.
	PrimaryPrepare float64 `json:"primary_prepare"`
	// Commit: a replica's certificate was durable → the batch committed
	// there.
	Commit float64 `json:"commit"`
	// Batches is how many batch executions the medians are taken over.
	Batches int `json:"batches"`
}

// maxPhaseSamples bounds what a phaseRecorder keeps: enough for medians,
// and a long run's memory measurement is not its own instrumentation.
const maxPhaseSamples = 1 << 16

// phaseRecorder collects the replicas' BatchTimes during a bench.
type phaseRecorder struct {
	mu    sync.Mutex
	times []runtime.BatchTimes
}

func (p *phaseRecorder) add(b runtime.BatchTimes) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.times) < maxPhaseSamples {
		p.times = append(p.times, b)
	}
}

// reset forgets what was recorded so far (the set-up before the load).
func (p *phaseRecorder) reset() {
	p.mu.Lock()
	p.times = p.times[:0]
	p.mu.Unlock()
}

// phases computes the medians and forgets the samples (nil when there are
// none).
func (p *phaseRecorder) phases() *BenchPhases {
	p.mu.Lock()
	times := p.times
	p.times = nil
	p.mu.Unlock()
	if len(times) == 0 {
		return nil
	}
	proposed := map[uint64]time.Time{}
	for _, b := range times {
		if t, ok := proposed[b.Seq]; !b.Proposed.IsZero() && (!ok || b.Proposed.Before(t)) {
			proposed[b.Seq] = b.Proposed
		}
	}
	var pp, prep, primary, commit []time.Duration
	for _, b := range times {
		p0, ok := proposed[b.Seq]
		if ok && !b.Accepted.IsZero() {
			pp = append(pp, b.Accepted.Sub(p0))
		}
		if !b.Accepted.IsZero() && !b.Certified.IsZero() {
			prep = append(prep, b.Certified.Sub(b.Accepted))
		}
		if !b.Proposed.IsZero() && !b.Certified.IsZero() {
			primary = append(primary, b.Certified.Sub(b.Proposed))
		}
		if !b.Certified.IsZero() {
			commit = append(commit, b.Executed.Sub(b.Certified))
		}
	}
	return &BenchPhases{PrePrepare: medianMs(pp), Prepare: medianMs(prep), PrimaryPrepare: medianMs(primary),
		Commit: medianMs(commit), Batches: len(times)}
}

func medianMs(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[len(d)/2].Microseconds()) / 1000
}
