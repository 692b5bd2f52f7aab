package pbft

import "slices"

// maxTimeout caps the exponential backoff of the view-change timeout.
const maxTimeout = 1 << 16

// startViewChange moves to view w (inactive) and sends a view change.
func (n *Node) startViewChange(w uint64) {
	if w <= n.view {
		return
	}
	n.view, n.active = w, false
	n.timerOn, n.vcTimerOn = false, false
	n.newView = nil
	n.timeout = min(2*n.timeout, maxTimeout)
	n.metrics.ViewChanges++
	n.markHard()
	n.sendViewChange()
}

// sendViewChange builds, signs and broadcasts this replica's view change
// for its (inactive) view: its stable checkpoint with the proof and its
// highest-view prepared certificate for each sequence number above it.
func (n *Node) sendViewChange() {
	vc := &ViewChange{View: n.view, Replica: n.cfg.ID, StableSeq: n.stable.seq, StableDigest: n.stable.digest,
		Proof: n.stable.proof}
	seqs := make([]uint64, 0, len(n.log))
	for s, e := range n.log {
		if e.cert != nil && n.inWindow(s) {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		vc.Prepared = append(vc.Prepared, *n.log[s].cert)
	}
	n.sign(vc)
	n.myVC = vc
	n.vcs[n.cfg.ID] = vc
	n.broadcast(vc)
	n.checkViewChangeQuorum()
}

func (n *Node) onViewChange(vc *ViewChange) error {
	if err := n.checkReplica(vc.Replica, vc); err != nil {
		return err
	}
	if old := n.vcs[vc.Replica]; old != nil && old.View >= vc.View {
		return nil
	}
	if vc.View < n.view || (vc.View == n.view && n.active) {
		if n.active && n.newView != nil && vc.View <= n.view {
			n.sendTo(vc.Replica, n.newView) // it is behind: show it the view we are in
		}
		return nil
	}
	if !n.verifyViewChange(vc) {
		return n.invalid(vc, "from replica %d for view %d does not verify", vc.Replica, vc.View)
	}
	n.vcs[vc.Replica] = vc
	// f+1 replicas want a later view: at least one correct one does, so join
	// the smallest view that f+1 of them want.
	var views []uint64
	for i, o := range n.vcs {
		if o != nil && uint32(i) != n.cfg.ID && o.View > n.view {
			views = append(views, o.View)
		}
	}
	if len(views) >= n.f+1 {
		slices.Sort(views)
		n.startViewChange(views[len(views)-n.f-1])
	}
	n.checkViewChangeQuorum()
	return nil
}

// checkViewChangeQuorum starts the new-view timer once 2f+1 replicas want
// the view, and lets its primary send the new-view.
func (n *Node) checkViewChangeQuorum() {
	if n.active {
		return
	}
	var set []*ViewChange
	if n.vcs[n.cfg.ID] != nil && n.vcs[n.cfg.ID].View == n.view {
		set = append(set, n.vcs[n.cfg.ID])
	}
	for i, vc := range n.vcs {
		if vc != nil && uint32(i) != n.cfg.ID && vc.View == n.view {
			set = append(set, vc)
		}
	}
	// The new-view timer runs once 2f+1 replicas want this view or a later
	// one (a replica that gave up on this view wanted it before).
	if !n.vcTimerOn {
		later := 0
		for _, vc := range n.vcs {
			if vc != nil && vc.View >= n.view {
				later++
			}
		}
		if later >= n.quorum() {
			n.vcTimerOn, n.vcTimerStart = true, n.now
		}
	}
	if len(set) < n.quorum() {
		return
	}
	if !n.isPrimary() || set[0].Replica != n.cfg.ID {
		return
	}
	set = set[:n.quorum()]
	nv := &NewView{View: n.view, Replica: n.cfg.ID, ViewChanges: set}
	o, _, _ := n.computeO(n.view, set)
	for _, pp := range o {
		n.sign(pp)
	}
	nv.PrePrepares = o
	n.sign(nv)
	n.broadcast(nv)
	n.enterNewView(nv)
}

// computeO computes a new-view's pre-prepares from its view changes as in
// the paper: from the highest stable checkpoint (min-s) to the highest
// prepared sequence (max-s), the batch prepared in the highest view, or the
// null batch. It returns the pre-prepares (unsigned) and min-s's view change.
func (n *Node) computeO(view uint64, vcs []*ViewChange) ([]*PrePrepare, *ViewChange, uint64) {
	var best *ViewChange
	for _, vc := range vcs {
		if best == nil || vc.StableSeq > best.StableSeq {
			best = vc
		}
	}
	minS := best.StableSeq
	maxS := minS
	chosen := map[uint64]*PrePrepare{}
	for _, vc := range vcs {
		for _, pc := range vc.Prepared {
			pp := pc.PrePrepare
			if pp.Seq <= minS {
				continue
			}
			maxS = max(maxS, pp.Seq)
			if cur := chosen[pp.Seq]; cur == nil || pp.View > cur.View {
				chosen[pp.Seq] = pp
			}
		}
	}
	var o []*PrePrepare
	for s := minS + 1; s <= maxS; s++ {
		pp := &PrePrepare{View: view, Seq: s, Replica: n.Primary(view)}
		if c := chosen[s]; c != nil {
			pp.Digest, pp.Batch = c.Digest, c.Batch
		} else {
			pp.Digest = n.d.BatchDigest(nil)
		}
		o = append(o, pp)
	}
	return o, best, maxS
}

// verifyViewChange checks a view change's checkpoint proof and prepared
// certificates (its own signature is checked by the caller).
func (n *Node) verifyViewChange(vc *ViewChange) bool {
	if vc.View == 0 || !n.verifyProof(vc.StableSeq, vc.StableDigest, vc.Proof) {
		return false
	}
	last := vc.StableSeq
	for _, pc := range vc.Prepared {
		pp := pc.PrePrepare
		if pp == nil || pp.Seq <= last || pp.Seq > vc.StableSeq+n.cfg.Window || pp.View >= vc.View ||
			pp.Replica != n.Primary(pp.View) || !verify(n.d, n.cfg.Verify, n.cfg.Replicas[pp.Replica], pp) ||
			n.d.BatchDigest(pp.Batch) != pp.Digest || len(pc.Prepares) < 2*n.f || len(pc.Prepares) > n.n {
			return false
		}
		last = pp.Seq
		seen := make([]bool, n.n)
		for _, p := range pc.Prepares {
			if p == nil || int(p.Replica) >= n.n || seen[p.Replica] || p.Replica == pp.Replica ||
				p.View != pp.View || p.Seq != pp.Seq || p.Digest != pp.Digest ||
				!verify(n.d, n.cfg.Verify, n.cfg.Replicas[p.Replica], p) {
				return false
			}
			seen[p.Replica] = true
		}
	}
	return true
}

func (n *Node) onNewView(nv *NewView) error {
	if err := n.checkReplica(nv.Replica, nv); err != nil {
		return err
	}
	if nv.View < n.view || (nv.View == n.view && n.active) {
		return nil
	}
	if !n.verifyNewView(nv) {
		return n.invalid(nv, "for view %d does not verify", nv.View)
	}
	n.enterNewView(nv)
	return nil
}

// verifyNewView checks a new-view: 2f+1 valid view changes for its view
// from distinct replicas, and exactly the pre-prepares computeO derives.
func (n *Node) verifyNewView(nv *NewView) bool {
	if nv.View == 0 || nv.Replica != n.Primary(nv.View) || len(nv.ViewChanges) < n.quorum() || len(nv.ViewChanges) > n.n {
		return false
	}
	seen := make([]bool, n.n)
	for _, vc := range nv.ViewChanges {
		if vc == nil || int(vc.Replica) >= n.n || seen[vc.Replica] || vc.View != nv.View ||
			!verify(n.d, n.cfg.Verify, n.cfg.Replicas[vc.Replica], vc) || !n.verifyViewChange(vc) {
			return false
		}
		seen[vc.Replica] = true
	}
	want, _, _ := n.computeO(nv.View, nv.ViewChanges)
	if len(want) != len(nv.PrePrepares) {
		return false
	}
	for i, pp := range nv.PrePrepares {
		w := want[i]
		if pp == nil || pp.View != w.View || pp.Seq != w.Seq || pp.Digest != w.Digest || pp.Replica != w.Replica ||
			n.d.BatchDigest(pp.Batch) != pp.Digest || !verify(n.d, n.cfg.Verify, n.cfg.Replicas[pp.Replica], pp) {
			return false
		}
	}
	return true
}

// enterNewView installs a verified new-view: the view becomes active, the
// highest stable checkpoint of its view changes is adopted, and the O set
// is pre-prepared (backups send prepares).
func (n *Node) enterNewView(nv *NewView) {
	if !n.newViewKeepsAhead(nv) {
		n.rollback() // what ran ahead in the old view is replaced
	}
	_, best, maxS := n.computeO(nv.View, nv.ViewChanges)
	n.view, n.active, n.newView, n.myVC = nv.View, true, nv, nil
	n.vcTimerOn = false
	n.markHard()
	n.metrics.NewViews++
	if best.StableSeq > n.h {
		if n.lastExec >= best.StableSeq {
			n.onStableProof(best.StableSeq, best.StableDigest, best.Proof)
		} else {
			n.target, n.targetSince = &stableProof{best.StableSeq, best.StableDigest, best.Proof}, n.now
			n.beginTransfer()
		}
	}
	n.assigned = map[reqKey]bool{}
	n.rescan()
	n.batchAge = 0
	n.pace = pace{} // a new primary learns its own pipeline
	for _, pp := range nv.PrePrepares {
		if !n.inWindow(pp.Seq) {
			continue
		}
		e := n.entry(pp.Seq)
		n.storePP(e, pp)
		n.adoptPrePrepare(e, pp, true)
	}
	if n.isPrimary() {
		n.nextSeq = max(maxS, n.h)
	}
	n.restartTimer()
	if !n.isPrimary() {
		for _, q := range n.queue {
			if !n.assigned[q.key()] {
				n.sendTo(n.Primary(n.view), q)
			}
		}
	}
	n.tryPropose()
}
