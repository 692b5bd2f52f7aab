package pbft

import "slices"

// onPrePrepare accepts the primary's assignment of a sequence number. A
// backup accepts at most one pre-prepare per (view, sequence) and answers
// it with a prepare. Pre-prepares of older views (or received while
// changing views) are only kept to execute by a commit certificate.
func (n *Node) onPrePrepare(pp *PrePrepare) error {
	if err := n.checkReplica(pp.Replica, pp); err != nil {
		return err
	}
	if pp.Replica != n.Primary(pp.View) {
		return n.invalid(pp, "from replica %d, not the primary of view %d", pp.Replica, pp.View)
	}
	if pp.View > n.view {
		return nil // a future view: its new-view will bring it
	}
	if !n.inWindow(pp.Seq) {
		n.metrics.OutOfWindow++
		return nil
	}
	e := n.entry(pp.Seq)
	current := pp.View == n.view && n.active
	if old := e.pps[pp.View]; old != nil {
		if old.Digest != pp.Digest {
			n.metrics.Equivocations++
			if n.commitSupport(e, pp.View, pp.Digest) > n.f && n.d.BatchDigest(pp.Batch) == pp.Digest {
				e.alt = pp // correct replicas committed this one: we need its batch
				n.checkCommitted(e)
			}
			return n.invalid(pp, "second pre-prepare for view %d sequence %d", pp.View, pp.Seq)
		}
		// Kept while changing views, it is now current: prepare it once.
		if my := e.prepares[n.cfg.ID]; !current || n.isPrimary() || (my != nil && my.View >= pp.View) {
			return nil
		}
		pp = old
	}
	if n.d.BatchDigest(pp.Batch) != pp.Digest {
		return n.invalid(pp, "batch does not match its digest")
	}
	if len(pp.Batch) > n.cfg.MaxBatch {
		return n.invalid(pp, "batch of %d requests", len(pp.Batch))
	}
	if current {
		for _, q := range pp.Batch {
			if !n.verifyRequest(q) {
				n.metrics.BadSignature++
				return n.invalid(pp, "request of client %x has a bad signature", q.Client[:4])
			}
		}
	}
	n.storePP(e, pp)
	if !current {
		n.checkCommitted(e)
		return nil
	}
	n.adoptPrePrepare(e, pp, false)
	return nil
}

// adoptPrePrepare makes pp, stored in e, the batch of its sequence in the
// current view: its requests not yet executed become pending (and, with
// assign, count as assigned to a sequence, as after a new view), a backup
// prepares it, and the entry advances as far as the prepares and commits
// already received allow (they may have come before the batch).
func (n *Node) adoptPrePrepare(e *entry, pp *PrePrepare, assign bool) {
	n.saveUnlessEarly(pp.Seq)
	for _, q := range pp.Batch {
		if n.executedReq(q) {
			continue
		}
		if assign {
			n.assigned[q.key()] = true
		}
		if p := n.pending[q.Client]; p == nil || p.Timestamp < q.Timestamp {
			q.fromBatch = true
			n.addPending(q)
		}
	}
	if !n.isPrimary() && !n.fenced(pp.Seq) {
		p := &Prepare{View: pp.View, Seq: pp.Seq, Digest: pp.Digest, Replica: n.cfg.ID}
		n.sign(p)
		e.prepares[n.cfg.ID] = p
		n.announce(p, pp.Seq)
	}
	n.checkPrepared(e)
	n.checkCommitted(e)
}

// storePP keeps pp in e, bounding the views kept per entry.
func (n *Node) storePP(e *entry, pp *PrePrepare) {
	e.pps[pp.View] = pp
	for len(e.pps) > maxViewsPerEntry {
		low := pp.View
		for v := range e.pps {
			low = min(low, v)
		}
		delete(e.pps, low)
	}
}

func (n *Node) onPrepare(p *Prepare) error {
	if err := n.checkReplica(p.Replica, p); err != nil {
		return err
	}
	if p.Replica == n.Primary(p.View) {
		return n.invalid(p, "prepare from the primary of view %d", p.View)
	}
	if !n.inWindow(p.Seq) {
		n.metrics.OutOfWindow++
		return nil
	}
	e := n.entry(p.Seq)
	if old := e.prepares[p.Replica]; old != nil && old.View >= p.View {
		return nil
	}
	e.prepares[p.Replica] = p
	n.checkPrepared(e)
	return nil
}

func (n *Node) onCommit(c *Commit) error {
	if err := n.checkReplica(c.Replica, c); err != nil {
		return err
	}
	if !n.inWindow(c.Seq) {
		n.metrics.OutOfWindow++
		return nil
	}
	if c.View > n.view {
		return nil // a future view: it will be sent again
	}
	e := n.entry(c.Seq)
	if n.addCommit(e, c) {
		n.checkCommitted(e)
	}
	return nil
}

// addCommit stores c (the first commit of each replica per view), keeping
// the commits of at most maxViewsPerEntry views, the highest.
func (n *Node) addCommit(e *entry, c *Commit) bool {
	cs := e.commits[c.View]
	if cs == nil {
		if len(e.commits) >= maxViewsPerEntry {
			low := c.View
			for v := range e.commits {
				low = min(low, v)
			}
			if low == c.View {
				return false
			}
			delete(e.commits, low)
		}
		cs = make([]*Commit, n.n)
		e.commits[c.View] = cs
	}
	if cs[c.Replica] != nil {
		return false
	}
	cs[c.Replica] = c
	return true
}

// checkPrepared turns a pre-prepare of the current view with 2f matching
// prepares into a prepared certificate and sends this replica's commit.
func (n *Node) checkPrepared(e *entry) {
	pp := e.pps[n.view]
	if !n.active || pp == nil || (e.cert != nil && e.cert.PrePrepare.View >= n.view) {
		return
	}
	var ps []*Prepare
	for _, p := range e.prepares {
		if p != nil && p.View == pp.View && p.Digest == pp.Digest && len(ps) < 2*n.f {
			ps = append(ps, p)
		}
	}
	if len(ps) < 2*n.f {
		return
	}
	e.cert = &PreparedCert{PrePrepare: pp, Prepares: ps}
	e.certGen = n.out.gen
	n.markDirty(e.seq)
	c := &Commit{View: pp.View, Seq: pp.Seq, Digest: pp.Digest, Replica: n.cfg.ID}
	n.sign(c)
	n.addCommit(e, c)
	n.broadcast(c)
	n.checkCommitted(e)
}

// checkCommitted marks e committed once 2f+1 replicas committed one
// (view, digest) and the batch is known. With signed commits this is a
// transferable certificate, so a replica may execute by it even if it did
// not prepare itself (catching up, or while changing views).
func (n *Node) checkCommitted(e *entry) {
	if e.commitPP != nil {
		return
	}
	views := make([]uint64, 0, len(e.commits))
	for v := range e.commits {
		views = append(views, v)
	}
	slices.Sort(views)
	for _, v := range views {
		if n.committedIn(e, e.commits[v]) {
			return
		}
	}
}

// committedIn looks for 2f+1 matching commits among cs (one view's).
func (n *Node) committedIn(e *entry, cs []*Commit) bool {
	for i, c := range cs {
		if c == nil {
			continue
		}
		cert := []*Commit{c}
		for _, o := range cs[i+1:] {
			if o != nil && o.Digest == c.Digest && len(cert) < n.quorum() {
				cert = append(cert, o)
			}
		}
		if len(cert) < n.quorum() {
			continue
		}
		pp := n.batchFor(e, c.Digest)
		if pp == nil {
			return false
		}
		e.commitPP, e.commitCert = pp, cert
		n.markLazy(e.seq)
		n.executeCommitted()
		return true
	}
	return false
}

// commitSupport counts the commits for (view, d) in e.
func (n *Node) commitSupport(e *entry, view uint64, d Digest) int {
	k := 0
	for _, c := range e.commits[view] {
		if c != nil && c.Digest == d {
			k++
		}
	}
	return k
}

// batchFor finds a pre-prepare of e carrying the batch with digest d.
func (n *Node) batchFor(e *entry, d Digest) *PrePrepare {
	if e.alt != nil && e.alt.Digest == d {
		return e.alt
	}
	if e.cert != nil && e.cert.PrePrepare.Digest == d {
		return e.cert.PrePrepare
	}
	var best *PrePrepare
	for _, pp := range e.pps {
		if pp.Digest == d && (best == nil || pp.View > best.View) {
			best = pp
		}
	}
	return best
}
