package runtime

import (
	"sync/atomic"
	"time"
)

// retransmitFactor is how many times its smoothed finality a client waits
// for f+1 replies before it suspects the primary and broadcasts.
const retransmitFactor = 8

// latencyEstimate is a client's smoothed finality (an exponentially
// weighted moving average with weight 1/8), shared by its identities.
type latencyEstimate struct {
	ewma atomic.Int64 // nanoseconds; 0 until the first sample
}

// observe adds one request's time from submit to result.
func (e *latencyEstimate) observe(d time.Duration) {
	for {
		old := e.ewma.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if e.ewma.CompareAndSwap(old, max(next, 1)) {
			return
		}
	}
}

// timeout is retransmitFactor times the estimate within [lo, hi]; hi
// before the first sample.
func (e *latencyEstimate) timeout(lo, hi time.Duration) time.Duration {
	est := time.Duration(e.ewma.Load())
	if est == 0 {
		return hi
	}
	return min(hi, max(lo, retransmitFactor*est))
}
