package pbft

import "errors"

// Tentative execution (Castro-Liskov, section 5.1.3): a replica executes a
// batch once it is prepared in the current view, before it commits, and
// sends tentative replies. It does so when its runtime calls Ahead, and
// only once the prepared certificate is durable (a replica that restarts
// must still hold what its tentative replies vouched for); the runtime
// calls it while it persists the Ready that carries the commit, so the
// application's work is off the commit's path.
//
// A client that gets 2f+1 matching replies, committed or tentative in one
// view, has its result one message delay earlier than from f+1 committed
// replies: 2f+1 replicas, f+1 of them correct, hold a prepared certificate
// for the batch (and for every batch before it, which they too had either
// committed or executed tentatively in that view), so every later view
// keeps these batches at these sequence numbers and the result is final.
//
// What ran ahead is undone when something else happens: a view change
// that does not keep it, or a different batch committing at a sequence
// number that ran ahead. The
// replica then restores the state at its last checkpoint at or below its
// last committed execution and executes the committed batches above it
// again (rollback). Nothing tentative is persisted: a restart rebuilds the
// state from the committed log. A tentative run never passes a checkpoint
// that is not taken: the batch after a checkpoint waits for the checkpoint's
// batch to commit, so a checkpoint's state is exactly the state after its
// sequence number.

// tentative is a batch executed ahead of its commit.
type tentative struct {
	digest  Digest
	view    uint64 // the view its tentative replies were sent in
	reqs    []*Request
	results [][]byte
}

// Ahead returns the messages that may be sent at once, outside any
// Ready: the primary's pre-prepares and backups' prepares that need no
// durable state (see early.go), and the tentative replies of the batches
// it executes here, in sequence, after the last one the application ran,
// whose prepared certificate in the current view is durable (a Ready
// holding it was Advanced): those replies depend on nothing that is not
// durable. A runtime calls it whenever it likes, typically after every
// Step, Tick and Advance, also while a Ready is being persisted, so that
// the application's work overlaps the fsync; if it never does, clients get
// their results from committed replies, one message delay later, and
// announcements wait for their state.
func (n *Node) Ahead() []Outbound {
	n.executeTentatively()
	out := n.out.now
	n.out.now = nil
	return out
}

// executeTentatively runs ahead what Ahead may.
func (n *Node) executeTentatively() {
	if !n.active || n.transferring || n.rollbackBase() == nil {
		return
	}
	for {
		seq := n.applied + 1
		e := n.log[seq]
		if e == nil || e.commitPP != nil || e.cert == nil || e.cert.PrePrepare.View != n.view {
			return // nothing prepared, or committed: executeCommitted runs it
		}
		if e.certGen > n.out.durableGen {
			return // its certificate is not durable yet
		}
		if cp := (seq - 1) / n.cfg.CheckpointInterval * n.cfg.CheckpointInterval; cp > n.lastExec {
			return // the checkpoint before seq is not taken yet
		}
		pp := e.cert.PrePrepare
		reqs, results := n.apply(seq, pp.Batch)
		e.tent = &tentative{digest: pp.Digest, view: n.view, reqs: reqs, results: results}
		n.metrics.BatchesTentative++
		n.replyAhead(replyItems(reqs, results))
	}
}

// rollback undoes the batches executed tentatively: the application and
// the client table return to the state after lastExec.
func (n *Node) rollback() {
	if n.applied <= n.lastExec {
		return
	}
	n.rescan()
	n.forgetTentative()
	base := n.rollbackBase()
	n.metrics.Rollbacks++
	if base == nil || !n.committedAbove(base.seq) || n.restoreSnapshot(base) != nil {
		// The application could not take back its own snapshot (a broken
		// disk), or the log lacks a committed batch to replay (which the
		// watermarks rule out): the state is unknown, so execution stops
		// until the stable checkpoint's state is fetched from a peer.
		n.metrics.SnapshotErrors++
		n.lastExec, n.applied = n.h, n.h
		n.transferring, n.transferTry = true, 0
		n.askState()
		return
	}
	n.applied = base.seq
	for seq := base.seq + 1; seq <= n.lastExec; seq++ {
		n.apply(seq, n.log[seq].commitPP.Batch) // committed once; its replies were sent
	}
}

// newViewKeepsAhead reports whether nv assigns every batch that ran ahead
// to the same sequence number: the state then stays as it is, and those
// batches commit in the new view (a primary's crash need not cost every
// replica a rollback).
func (n *Node) newViewKeepsAhead(nv *NewView) bool {
	for seq := n.lastExec + 1; seq <= n.applied; seq++ {
		e := n.log[seq]
		if e == nil || e.tent == nil {
			return false
		}
		kept := false
		for _, pp := range nv.PrePrepares {
			if pp.Seq == seq {
				kept = pp.Digest == e.tent.digest
				break
			}
		}
		if !kept {
			return false
		}
	}
	return true
}

// committedAbove reports whether the committed batches in (seq, lastExec]
// are all in the log, to be replayed.
func (n *Node) committedAbove(seq uint64) bool {
	for s := seq + 1; s <= n.lastExec; s++ {
		if e := n.log[s]; e == nil || e.commitPP == nil {
			return false
		}
	}
	return true
}

// forgetTentative drops the record of what ran ahead, when the application
// is about to be restored anyway.
func (n *Node) forgetTentative() {
	for seq := n.lastExec + 1; seq <= n.applied; seq++ {
		if e := n.log[seq]; e != nil {
			e.tent = nil
		}
	}
	n.applied = n.lastExec
}

// rollbackBase returns the state a rollback restores: the snapshot of the
// checkpoint at or below lastExec (the stable one, a later one this replica
// took, or the genesis), or nil when there is none to restore.
func (n *Node) rollbackBase() *snapshot {
	var ss *snapshot
	switch cp := n.lastExec / n.cfg.CheckpointInterval * n.cfg.CheckpointInterval; {
	case cp > n.h:
		ss = n.snapshots[cp]
	case n.h == 0:
		ss = n.genesis
	default:
		ss = n.stableSS
	}
	if ss == nil || !ss.ok {
		return nil
	}
	return ss
}

var errRestoredDigest = errors.New("pbft: restored application digest differs from the snapshot's")

// restoreSnapshot installs ss in the application and the client table.
func (n *Node) restoreSnapshot(ss *snapshot) error {
	if err := n.cfg.App.Restore(ss.appState); err != nil {
		return err
	}
	if n.cfg.App.Digest() != ss.appDigest {
		return errRestoredDigest
	}
	n.clients = make(map[ClientID]*clientState, len(ss.clients))
	n.rescan()
	for _, c := range ss.clients {
		n.clients[c.Client] = &clientState{ts: c.Timestamp, result: c.Result}
	}
	return nil
}
