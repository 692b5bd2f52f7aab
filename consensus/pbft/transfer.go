package pbft

import (
	"bytes"
	"maps"
)

// tickTransfer starts a state transfer for a stable checkpoint the replica
// could not reach on its own, and retries an unanswered one with the next
// replica of the checkpoint's proof.
func (n *Node) tickTransfer() {
	if n.target != nil && !n.transferring && n.lastExec < n.target.seq && n.now-n.targetSince >= uint64(n.cfg.TransferDelay) {
		n.beginTransfer()
		return
	}
	if n.transferring && n.now-n.transferAsked >= uint64(n.cfg.TransferRetry) {
		n.askState()
	}
}

// beginTransfer adopts the target checkpoint as the low watermark (its
// proof makes it stable) and asks for a snapshot of it. Execution stops
// until a verified snapshot is installed.
func (n *Node) beginTransfer() {
	t := n.target
	if t == nil {
		return
	}
	n.forgetTentative() // the application's state is about to be replaced
	if t.seq > n.h {
		n.h = t.seq
		n.stable = *t
		n.stableSS = nil
		n.truncate(t.seq)
	}
	n.transferring = true
	n.transferTry = 0
	n.askState()
}

func (n *Node) askState() {
	n.transferAsked = n.now
	var peers []uint32
	for _, c := range n.stable.proof {
		if c.Replica != n.cfg.ID {
			peers = append(peers, c.Replica)
		}
	}
	if len(peers) == 0 {
		return
	}
	to := peers[n.transferTry%len(peers)]
	n.transferTry++
	r := &StateRequest{Replica: n.cfg.ID, Seq: n.h}
	n.sign(r)
	n.sendTo(to, r)
}

// onStateRequest serves the stable checkpoint's snapshot, at most once per
// requester and checkpoint every TransferRetry ticks.
func (n *Node) onStateRequest(r *StateRequest) error {
	if err := n.checkReplica(r.Replica, r); err != nil {
		return err
	}
	ss := n.stableSS
	if ss == nil || !ss.ok || n.stable.seq < r.Seq || n.stable.seq == 0 {
		return nil
	}
	if s := n.served[r.Replica]; s.seq == n.stable.seq && s.at != 0 && n.now-s.at < uint64(n.cfg.TransferRetry) {
		return nil
	}
	n.served[r.Replica] = servedState{seq: n.stable.seq, at: max(n.now, 1)}
	resp := &StateResponse{Replica: n.cfg.ID, Seq: n.stable.seq, Digest: n.stable.digest, Proof: n.stable.proof,
		AppDigest: ss.appDigest, Clients: ss.clients, AppState: ss.appState}
	n.sign(resp)
	n.metrics.StateServed++
	n.sendTo(r.Replica, resp)
	return nil
}

// onStateResponse installs a snapshot after checking it against its
// checkpoint proof: the client table and the application digest must
// produce the proven state digest, and the restored application must
// report that digest.
func (n *Node) onStateResponse(r *StateResponse) error {
	if err := n.checkReplica(r.Replica, r); err != nil {
		return err
	}
	// A response at lastExec is taken only after a failed rollback, which
	// stops at the stable checkpoint to fetch its state again.
	if !n.transferring || r.Seq < n.h || r.Seq < n.lastExec || (r.Seq == n.lastExec && r.Seq != n.h) {
		return nil
	}
	if !n.verifyProof(r.Seq, r.Digest, r.Proof) || r.Seq == 0 {
		return n.invalid(r, "checkpoint proof for %d does not verify", r.Seq)
	}
	for i := 1; i < len(r.Clients); i++ {
		if bytes.Compare(r.Clients[i-1].Client[:], r.Clients[i].Client[:]) >= 0 {
			return n.invalid(r, "client table is not in canonical order")
		}
	}
	if n.d.StateDigest(r.AppDigest, r.Clients) != r.Digest {
		return n.invalid(r, "state does not match the checkpoint digest")
	}
	if err := n.cfg.App.Restore(r.AppState); err != nil {
		n.metrics.SnapshotErrors++
		return n.invalid(r, "restore: %v", err)
	}
	if n.cfg.App.Digest() != r.AppDigest {
		// The application now holds a wrong state; execution stays stopped
		// until a correct snapshot is installed.
		return n.invalid(r, "restored application digest differs from the proven one")
	}
	n.clients = make(map[ClientID]*clientState, len(r.Clients))
	for _, c := range r.Clients {
		n.clients[c.Client] = &clientState{ts: c.Timestamp, result: c.Result}
	}
	n.lastExec, n.applied = r.Seq, r.Seq
	n.transferring = false
	n.metrics.StateTransfers++
	ss := &snapshot{seq: r.Seq, digest: r.Digest, appDigest: r.AppDigest, clients: r.Clients, appState: r.AppState, ok: true}
	n.h = min(n.h, r.Seq-1) // let advanceStable run for r.Seq == h as well
	n.advanceStable(r.Seq, r.Digest, r.Proof, ss)
	n.rescan()
	maps.DeleteFunc(n.assigned, func(k reqKey, _ bool) bool {
		cs := n.clients[k.client]
		return cs != nil && cs.ts >= k.ts
	})
	// Requests the snapshot executed are no longer pending (and no longer
	// count against MaxPending).
	maps.DeleteFunc(n.pending, func(_ ClientID, q *Request) bool { return n.executedReq(q) })
	n.restartTimer()
	n.executeCommitted()
	return nil
}

// onStatus answers a peer's status with what it misses: the new-view or
// view change of a later view, the stable checkpoint proof, and, when the
// peer made no progress since its previous status, the pre-prepares,
// prepares, commits and commit certificates above its last execution.
func (n *Node) onStatus(st *Status) error {
	if err := n.checkReplica(st.Replica, st); err != nil {
		return err
	}
	j := st.Replica
	progressed := st.LastExec > n.peerExec[j]
	n.peerExec[j] = max(n.peerExec[j], st.LastExec)
	if st.View < n.view || (st.View == n.view && !st.Active) {
		if n.active && n.newView != nil {
			n.sendTo(j, n.newView)
		} else if !n.active && n.myVC != nil {
			n.sendTo(j, n.myVC)
		}
	}
	if st.Stable < n.h {
		for _, c := range n.stable.proof {
			n.sendTo(j, c)
		}
	}
	if progressed {
		return nil
	}
	// Our checkpoints it has not seen stable: they may all have been lost,
	// and without them no checkpoint becomes stable and the window closes.
	for seq, cs := range n.cps {
		if seq > st.Stable && cs[n.cfg.ID] != nil {
			n.sendTo(j, cs[n.cfg.ID])
		}
	}
	from := max(st.LastExec, n.h) + 1
	for s := from; s <= n.h+n.cfg.Window && s <= st.LastExec+n.cfg.Window; s++ {
		e := n.log[s]
		if e == nil {
			if s > n.lastExec {
				break
			}
			continue
		}
		if e.commitPP != nil {
			n.sendTo(j, e.commitPP)
			for _, c := range e.commitCert {
				n.sendTo(j, c) // its own too: it may have lost it in a crash
			}
			continue
		}
		if !n.active || st.View != n.view || !st.Active {
			continue
		}
		if pp := e.pps[n.view]; pp != nil {
			n.sendTo(j, pp)
			if p := e.prepares[n.cfg.ID]; p != nil && p.View == n.view {
				n.sendTo(j, p)
			}
			if cs := e.commits[n.view]; cs != nil && cs[n.cfg.ID] != nil {
				n.sendTo(j, cs[n.cfg.ID])
			}
		}
	}
	return nil
}
