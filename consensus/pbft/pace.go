package pbft

// Pacing. The primary may have MaxInFlight batches proposed and not yet
// executed, and a batch takes a few message delays from its proposal to
// its execution. Were it to propose whenever a slot is free, it would fill
// every slot in a burst of small batches, then hold every new request
// until the next commits came back: a request's wait at the primary would
// be anything from one tick to a whole round of the protocol.
//
// So a batch that is not full also waits, after the last proposal, a
// PipelineDepth-th of the time batches have recently taken from proposal
// to execution here: the batches leave evenly spread, about PipelineDepth
// of them in flight, and a request waits for the next one, a fraction of a
// round. Under a light load the last proposal is usually long past and
// nothing changes; a full batch never waits. The clock is the core's
// ticks, so pacing is as deterministic as the rest of the core.

// pace is what the primary knows of its recent batches.
type pace struct {
	// cycle8 is 8 times the moving average (weight 1/8) of the ticks from a
	// batch's proposal to its execution, 0 before the first.
	cycle8 uint64
	last   uint64 // tick of the last proposal
}

// allows reports whether a batch that is not full may be proposed at tick
// now, depth batches being paced for.
func (p *pace) allows(now uint64, depth int) bool {
	return now >= p.last+p.cycle8/8/uint64(depth)
}

// proposed records a proposal at tick now and returns what the batch's
// entry keeps for executed (proposedAt).
func (p *pace) proposed(now uint64) uint64 {
	p.last = now
	return now + 1
}

// executed learns from a batch proposed here (proposedAt, 0 if it was
// not) executing at tick now.
func (p *pace) executed(proposedAt, now uint64) {
	if proposedAt == 0 || proposedAt > now+1 {
		return
	}
	took := now + 1 - proposedAt
	if p.cycle8 == 0 {
		p.cycle8 = 8 * took
		return
	}
	p.cycle8 = p.cycle8 - p.cycle8/8 + took
}
