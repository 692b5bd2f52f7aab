package pbft

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
)

// onRequest handles a client request, from the client or forwarded by a
// backup: exactly-once filtering, the reply cache, forwarding to the
// primary and the request timer.
func (n *Node) onRequest(q *Request) error {
	if !n.verifyRequest(q) {
		n.metrics.BadSignature++
		return fmt.Errorf("request of client %x: %w", q.Client[:4], ErrBadSignature)
	}
	if len(q.Op) > MaxOpBytes {
		return n.invalid(q, "operation of %d bytes", len(q.Op))
	}
	if cs := n.clients[q.Client]; cs != nil && q.Timestamp <= cs.ts {
		n.metrics.DuplicateRequests++
		switch {
		case q.Timestamp == cs.ts:
			n.replyCached(q.Client, cs, cs.ts, cs.result)
		case q.Unsigned():
			// An application-authenticated client is shared by whoever
			// holds its key (an account's processes), so an older request
			// may still be awaited: say it will never execute here (an
			// empty result; applications never return one).
			n.replyCached(q.Client, cs, q.Timestamp, nil)
		}
		if q.Timestamp < cs.ts || cs.seq <= n.lastExec {
			return nil
		}
		// Executed only tentatively: it stays pending until it commits, so
		// that its timer runs (a restarted replica learns of it here).
	}
	p := n.pending[q.Client]
	if p != nil && p.Timestamp >= q.Timestamp {
		switch {
		case p.Timestamp != q.Timestamp:
		case p.fromBatch:
			// The client's copy of a request this backup first saw in a
			// pre-prepare (an unsigned request goes to every replica that
			// may not route its replies yet, and the batch may outrun
			// it): the primary has it.
			p.fromBatch = false
		case !n.isPrimary() && n.active:
			n.sendTo(n.Primary(n.view), q) // a retransmission: the primary may have missed it
		}
		return nil
	}
	if p == nil && len(n.pending) >= n.cfg.MaxPending {
		n.metrics.DroppedRequests++
		return nil // the client retransmits; memory stays bounded
	}
	n.addPending(q)
	// A backup forwards a request to the primary, which may not have it
	// (its client may believe in an older view's primary, or have sent an
	// unsigned request to every replica).
	if n.active && !n.isPrimary() {
		n.sendTo(n.Primary(n.view), q)
	}
	if n.active && n.isPrimary() {
		n.tryPropose()
	}
	return nil
}

// verifyRequest checks a request's signature by its client or, for an
// unsigned request, asks the application (Config.Authenticate). The two
// never mix: a signed request is not taken on the application's word, and
// an unsigned one has exactly one encoding for its (client, timestamp, op).
func (n *Node) verifyRequest(q *Request) bool {
	if q.Unsigned() {
		return q.Vouched || n.cfg.Authenticate != nil && n.cfg.Authenticate(q.Client, q.Timestamp, q.Op)
	}
	return n.cfg.Verify(ed25519.PublicKey(q.Client[:]), n.d.SignedBytes(q), q.Sig[:])
}

// addPending records q as the newest unexecuted request of its client and
// starts the request timer if it is not running.
func (n *Node) addPending(q *Request) {
	n.pending[q.Client] = q
	n.queue = append(n.queue, q)
	if !n.timerOn && n.active {
		n.startTimer(q.key())
	}
}

func (n *Node) startTimer(k reqKey) {
	n.timerOn, n.timerKey, n.timerStart = true, k, n.now
}

// executedReq reports whether q (or a later request of its client) has
// been executed.
func (n *Node) executedReq(q *Request) bool {
	cs := n.clients[q.Client]
	return cs != nil && q.Timestamp <= cs.ts
}

// committedReq reports whether q (or a later request of its client) has
// been executed in a committed batch; a request executed only tentatively
// may yet be rolled back.
func (n *Node) committedReq(q *Request) bool {
	cs := n.clients[q.Client]
	return cs != nil && q.Timestamp <= cs.ts && cs.seq <= n.lastExec
}

// live reports whether queued request q is still the pending one: its
// request timer runs until it is committed.
func (n *Node) live(q *Request) bool {
	p := n.pending[q.Client]
	return p == q && !n.committedReq(q)
}

// compactQueue drops queue entries that are no longer pending.
func (n *Node) compactQueue() {
	n.queue = slices.DeleteFunc(n.queue, func(q *Request) bool { return !n.live(q) })
	n.rescan()
}

// skipDone reports whether queued request i is assigned or no longer live,
// moving scanFrom past it when it is the first not yet known to be.
func (n *Node) skipDone(i int) bool {
	q := n.queue[i]
	if !n.assigned[q.key()] && n.live(q) { // assigned first: one lookup for a batch in flight
		return false
	}
	if i == n.scanFrom {
		n.scanFrom++
	}
	return true
}

func (n *Node) hasUnassigned() bool {
	for i := n.scanFrom; i < len(n.queue); i++ {
		if !n.skipDone(i) {
			return true
		}
	}
	return false
}

// restartTimer points the request timer at the oldest pending request, or
// stops it when nothing is pending.
func (n *Node) restartTimer() {
	n.compactQueue()
	n.timerOn = false
	if len(n.queue) > 0 && n.active {
		n.startTimer(n.queue[0].key())
	}
}

// queueBound counts, at most once each, the requests of queue[scanFrom:end]
// that were live and unassigned when counted: some may have been executed
// or replaced since, so it is an upper bound of what a scan would batch.
type queueBound struct {
	end, count, size int
}

// rescan makes the next proposal read the queue from its start, after
// whatever may have unassigned or revived a request or moved the queue.
func (n *Node) rescan() {
	n.scanFrom = 0
	n.unassigned = queueBound{}
}

// mayPropose reports whether a scan of the queue might cut a batch now: a
// full one, or one that has waited its batching delay and pace. It counts
// only the requests that arrived since it last did, so a request arriving
// while the batch fills costs no scan of those before it (which made the
// primary's work per batch grow with the square of its size).
func (n *Node) mayPropose() bool {
	b := &n.unassigned
	for b.end = max(b.end, n.scanFrom); b.end < len(n.queue); b.end++ {
		if !n.skipDone(b.end) {
			b.count++
			b.size += n.queue[b.end].size()
		}
	}
	if b.count >= n.cfg.MaxBatch || b.size >= n.cfg.MaxBatchBytes {
		return true
	}
	if !n.hasUnassigned() {
		n.batchAge = 0
		return false
	}
	return n.batchAge >= n.cfg.BatchDelay && n.pace.allows(n.now, n.cfg.PipelineDepth)
}

// tryPropose lets the primary cut batches while the window, the pipeline
// depth and the batching policy allow.
func (n *Node) tryPropose() {
	for n.active && n.isPrimary() {
		if n.nextSeq+1 > n.h+n.cfg.Window || n.nextSeq-n.lastExec >= uint64(n.cfg.MaxInFlight) || n.transferring ||
			n.fenced(n.nextSeq+1) {
			return
		}
		if !n.mayPropose() {
			return
		}
		// The batch is gathered in a scratch slice and copied only when
		// proposed.
		batch := n.batchScratch[:0]
		size, i := 0, n.scanFrom
		for ; i < len(n.queue); i++ {
			if n.skipDone(i) {
				continue
			}
			q := n.queue[i]
			if len(batch) > 0 && (len(batch) >= n.cfg.MaxBatch || size+q.size() > n.cfg.MaxBatchBytes) {
				break
			}
			batch = append(batch, q)
			size += q.size()
		}
		n.batchScratch = batch
		n.unassigned = queueBound{end: i, count: len(batch), size: size}
		full := len(batch) >= n.cfg.MaxBatch || size >= n.cfg.MaxBatchBytes
		propose := len(batch) > 0 && (full || n.batchAge >= n.cfg.BatchDelay && n.pace.allows(n.now, n.cfg.PipelineDepth))
		if propose {
			batch = slices.Clone(batch)
		}
		clear(n.batchScratch) // it holds no request beyond this call
		if len(batch) == 0 {
			n.batchAge = 0
			return
		}
		if !propose {
			return
		}
		n.nextSeq++
		pp := &PrePrepare{View: n.view, Seq: n.nextSeq, Digest: n.d.BatchDigest(batch), Replica: n.cfg.ID, Batch: batch}
		n.sign(pp)
		for _, q := range batch {
			n.assigned[q.key()] = true
		}
		n.unassigned = queueBound{}
		n.batchAge = 0
		n.metrics.BatchesProposed++
		e := n.entry(pp.Seq)
		e.pps[pp.View] = pp
		e.proposedAt = n.pace.proposed(n.now)
		n.saveUnlessEarly(pp.Seq)
		n.announce(pp, pp.Seq)
		n.checkPrepared(e)
	}
}

// execute executes committed entry e (the next in sequence): it applies
// the batch to the application unless it already ran tentatively (see
// executeTentatively), and then updates the pending requests and timers,
// reports the batch and takes the checkpoint if one is due.
func (n *Node) execute(e *entry) {
	pp := e.commitPP
	t := e.tent
	n.rescan()
	if n.applied > n.lastExec && (t == nil || t.digest != pp.Digest) {
		n.rollback() // another batch committed than the one we ran ahead
		if n.transferring {
			return // the rollback failed: the state is being fetched
		}
		t = nil
	}
	e.tent = nil
	var reqs []*Request
	var out [][]byte
	if t != nil {
		reqs, out = t.reqs, t.results
		if t.view < n.view {
			// Its tentative replies were of an older view (kept by the new
			// one): clients may hold too few of them to decide.
			n.replyAll(replyItems(reqs, out), false)
		}
	} else {
		reqs, out = n.apply(e.seq, pp.Batch)
		n.replyAll(replyItems(reqs, out), false) // one signature for the batch's replies
	}
	for _, q := range reqs {
		delete(n.assigned, q.key())
		if p := n.pending[q.Client]; p != nil && p.Timestamp <= q.Timestamp {
			delete(n.pending, q.Client)
		}
	}
	if pp.View == n.view {
		n.pace.executed(e.proposedAt, n.now)
	}
	n.lastExec = e.seq
	n.metrics.BatchesExecuted++
	n.metrics.RequestsExecuted += uint64(len(reqs))
	n.out.executed = append(n.out.executed, Batch{Seq: e.seq, View: pp.View, Digest: pp.Digest, Requests: reqs, Results: out})
	if n.active && len(reqs) > 0 {
		n.timeout = n.cfg.ViewChangeTimeout // progress in this view: back off no more
	}
	if n.timerOn {
		if cs := n.clients[n.timerKey.client]; cs != nil && cs.ts >= n.timerKey.ts {
			n.restartTimer()
		}
	}
	if e.seq%n.cfg.CheckpointInterval == 0 {
		n.takeCheckpoint(e.seq)
	}
}

// apply runs the batch of sequence seq on the application, skipping the
// requests already executed, and records each request's result in the
// client table.
func (n *Node) apply(seq uint64, batch []*Request) ([]*Request, [][]byte) {
	var reqs []*Request
	var txs [][]byte
	for _, q := range batch {
		if n.executedReq(q) {
			n.metrics.DuplicateRequests++
			continue
		}
		// mark now, so a duplicate later in the same batch is skipped
		n.clients[q.Client] = &clientState{ts: q.Timestamp, seq: seq}
		reqs = append(reqs, q)
		txs = append(txs, q.Op)
	}
	results := n.cfg.App.Apply(seq, txs)
	out := make([][]byte, len(reqs))
	for i, q := range reqs {
		if i < len(results) {
			out[i] = results[i]
		}
		n.clients[q.Client].result = out[i]
	}
	n.applied = seq
	return reqs, out
}

func replyItems(reqs []*Request, results [][]byte) []replyItem {
	items := make([]replyItem, len(reqs))
	for i, q := range reqs {
		items[i] = replyItem{client: q.Client, ts: q.Timestamp, result: results[i]}
	}
	return items
}

// executeCommitted executes committed entries in sequence order.
func (n *Node) executeCommitted() {
	for !n.transferring {
		e := n.log[n.lastExec+1]
		if e == nil || e.commitPP == nil {
			break
		}
		n.execute(e)
	}
	if n.target != nil && n.lastExec >= n.target.seq {
		t := n.target
		n.target = nil
		n.onStableProof(t.seq, t.digest, t.proof)
	}
	n.tryPropose()
}

// replyCached answers a client from its entry in the client table (the
// result of its latest executed request, or result for an older one),
// tentative while that request's batch has not committed.
func (n *Node) replyCached(c ClientID, cs *clientState, ts uint64, result []byte) {
	n.replyLater(replyItem{client: c, ts: ts, result: result}, cs.seq > n.lastExec)
}

// clientRecords returns the client table in canonical (sorted) order.
func (n *Node) clientRecords() []ClientRecord {
	out := make([]ClientRecord, 0, len(n.clients))
	for id, cs := range n.clients {
		out = append(out, ClientRecord{Client: id, Timestamp: cs.ts, Result: cs.result})
	}
	slices.SortFunc(out, func(a, b ClientRecord) int { return bytes.Compare(a.Client[:], b.Client[:]) })
	return out
}
