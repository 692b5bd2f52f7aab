package pbft

// stallWatch times the next batch to execute while no request timer runs.
type stallWatch struct {
	on    bool
	seq   uint64 // the sequence watched
	since uint64 // tick it was first seen waiting
}

// batchStalled reports whether the next batch to execute, accepted in the
// current view, has waited a whole view-change timeout without committing
// while no request timer ran. Request timers guard requests, and a batch
// may hold none still pending (a null batch, or requests executed before):
// a faulty primary that keeps such a batch from committing (by sending
// another batch for its sequence to one replica, so no 2f+1 commits can
// match) would otherwise hold the sequence, and whatever ran ahead of it
// tentatively, until the next request came. The view change that follows
// carries the batch's prepared certificates, so the new view commits it.
func (n *Node) batchStalled() bool {
	if !n.active || n.timerOn || n.transferring {
		n.stall = stallWatch{}
		return false
	}
	next := n.lastExec + 1
	if e := n.log[next]; e == nil || e.pps[n.view] == nil {
		n.stall = stallWatch{}
		return false
	}
	if !n.stall.on || n.stall.seq != next {
		n.stall = stallWatch{on: true, seq: next, since: n.now}
		return false
	}
	return n.now-n.stall.since >= uint64(n.timeout)
}
