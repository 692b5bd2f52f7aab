package pbft

import (
	"errors"
	"fmt"
)

// Errors returned (wrapped) by Step for messages it rejects. Benign
// duplicates and stale messages are ignored without an error.
var (
	ErrBadSignature = errors.New("pbft: bad signature")
	ErrNotMember    = errors.New("pbft: sender is not a replica of this shard")
	ErrInvalid      = errors.New("pbft: invalid message")
)

// Metrics counts what a replica did and what it dropped.
type Metrics struct {
	BadSignature         uint64 // messages with a signature that does not verify
	NotMember            uint64 // messages claiming a sender outside the shard
	Invalid              uint64 // well-signed messages that break the protocol
	Equivocations        uint64 // conflicting pre-prepares seen for one view and sequence
	OutOfWindow          uint64 // messages outside the watermarks
	BatchesProposed      uint64
	BatchesExecuted      uint64
	BatchesTentative     uint64 // batches executed ahead of their commit
	Rollbacks            uint64 // times batches executed ahead were undone
	RequestsExecuted     uint64
	DuplicateRequests    uint64 // requests answered from the reply cache or dropped as old
	DroppedRequests      uint64 // requests of new clients dropped while MaxPending were pending
	CheckpointsStable    uint64
	ViewChanges          uint64 // view changes this replica started
	NewViews             uint64 // new views this replica entered
	StateTransfers       uint64 // snapshots installed
	StateServed          uint64 // snapshots sent to peers
	SnapshotErrors       uint64 // Snapshot or Restore failures
	DivergentCheckpoints uint64 // stable checkpoints whose digest differs from ours
}

// entry is the in-memory state of one sequence number.
type entry struct {
	seq uint64
	// pps holds accepted pre-prepares by view: the current view's drives
	// the normal case, older ones serve catch-up by commit certificate.
	pps      map[uint64]*PrePrepare
	prepares []*Prepare           // latest per replica
	commits  map[uint64][]*Commit // by view, per replica (a few views)
	cert     *PreparedCert
	// alt is a conflicting pre-prepare of an equivocating primary, kept
	// once f+1 replicas committed its digest.
	alt *PrePrepare
	// committed batch and its commit certificate
	commitPP   *PrePrepare
	commitCert []*Commit
	// tent is the batch executed ahead of its commit, if any.
	tent *tentative
	// certGen is the output generation cert was made in (0: loaded from
	// storage); it may run ahead once that generation is durable.
	certGen uint64
	// proposedAt is 1 + the tick this replica proposed it at as primary
	// (0: it did not, or before a restart).
	proposedAt uint64
}

const maxViewsPerEntry = 4

func (e *entry) persisted() Entry {
	out := Entry{Seq: e.seq, Prepared: e.cert, CommitPP: e.commitPP, Commits: e.commitCert}
	for _, pp := range e.pps {
		if out.PrePrepare == nil || pp.View > out.PrePrepare.View {
			out.PrePrepare = pp
		}
	}
	return out
}

// snapshot is the state at an executed checkpoint.
type snapshot struct {
	seq       uint64
	digest    Digest
	appDigest Digest
	clients   []ClientRecord
	appState  []byte
	ok        bool // appState was taken successfully
}

type clientState struct {
	ts     uint64
	result []byte
	seq    uint64 // the batch that executed ts; 0 when restored from a snapshot
}

// stableProof is a checkpoint with 2f+1 matching signatures.
type stableProof struct {
	seq    uint64
	digest Digest
	proof  []*Checkpoint
}

// Node is one PBFT replica's protocol state machine. It is not safe for
// concurrent use; it has no goroutines, clock, I/O or randomness.
type Node struct {
	cfg  Config
	d    Domain
	n, f int

	view   uint64
	active bool

	h        uint64 // low watermark: the stable checkpoint's sequence
	stable   stableProof
	stableSS *snapshot // snapshot at h (nil for genesis without snapshot)
	lastExec uint64    // last committed sequence executed
	// applied is the last sequence the application ran: lastExec, or
	// beyond it by batches executed tentatively (see executeTentatively).
	applied uint64
	genesis *snapshot // the state before the first batch, for rollbacks
	log     map[uint64]*entry
	nextSeq uint64 // last sequence number assigned (primary)

	clients  map[ClientID]*clientState
	pending  map[ClientID]*Request // newest unexecuted request per client
	queue    []*Request            // arrival order of pending requests
	assigned map[reqKey]bool       // requests in a current-view pre-prepare
	batchAge int
	// scanFrom is where proposing starts reading the queue: each request
	// before it was assigned or no longer live when the scan passed it.
	// Whatever may unassign or revive a request, or move the queue
	// (execution, compaction, a view change, a state transfer, a
	// rollback), sets it back to 0 (rescan).
	scanFrom int
	// unassigned bounds from above the requests a scan of the queue from
	// scanFrom would put in a batch (see mayPropose).
	unassigned queueBound
	// batchScratch is where tryPropose gathers a batch (empty between calls).
	batchScratch []*Request
	pace         pace

	now          uint64
	timeout      int // current view-change timeout (doubles)
	timerOn      bool
	timerKey     reqKey
	timerStart   uint64
	vcTimerOn    bool
	vcTimerStart uint64

	cps       map[uint64][]*Checkpoint // checkpoint messages by seq, per replica
	cpCount   []int
	snapshots map[uint64]*snapshot // our snapshots at executed, unstable checkpoints

	vcs     []*ViewChange // latest view change per replica
	myVC    *ViewChange
	newView *NewView // accepted new-view of the current view

	target        *stableProof // a stable checkpoint beyond lastExec
	targetSince   uint64
	transferring  bool
	transferAsked uint64
	transferTry   int
	served        []servedState
	peerExec      []uint64

	stall   stallWatch
	fence   restartFence
	out     outbox
	metrics Metrics
}

type servedState struct {
	seq uint64
	at  uint64
}

// New creates a replica for a fresh shard: the application is in its
// genesis state and nothing is persisted yet.
func New(cfg Config) (*Node, error) { return Restart(cfg, nil) }

// Restart creates a replica from its persisted state (nil for a fresh
// replica). The application is restored from the stable checkpoint's
// snapshot and the committed entries above it are executed again.
func Restart(cfg Config, p *Persisted) (*Node, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: c, d: c.Domain, n: len(c.Replicas), active: true,
		log: map[uint64]*entry{}, clients: map[ClientID]*clientState{},
		pending: map[ClientID]*Request{}, assigned: map[reqKey]bool{},
		timeout: c.ViewChangeTimeout, cps: map[uint64][]*Checkpoint{},
		cpCount: make([]int, len(c.Replicas)), snapshots: map[uint64]*snapshot{},
		vcs: make([]*ViewChange, len(c.Replicas)), served: make([]servedState, len(c.Replicas)),
		peerExec: make([]uint64, len(c.Replicas)),
	}
	n.f = (n.n - 1) / 3
	n.out.gen = 1
	n.out.dirty, n.out.lazy = map[uint64]uint64{}, map[uint64]uint64{}
	if p == nil || p.Checkpoint == nil {
		n.genesis = n.snapshotApp(0)
	}
	if p == nil {
		n.markHard() // announcements go early once a hard state is durable
		return n, nil
	}
	if cp := p.Checkpoint; cp != nil {
		if err := c.App.Restore(cp.AppState); err != nil {
			return nil, fmt.Errorf("restore checkpoint %d: %w", cp.Seq, err)
		}
		if got := c.App.Digest(); got != cp.AppDigest {
			return nil, fmt.Errorf("restore checkpoint %d: application digest %x, want %x", cp.Seq, got[:8], cp.AppDigest[:8])
		}
		for _, r := range cp.Clients {
			n.clients[r.Client] = &clientState{ts: r.Timestamp, result: r.Result}
		}
		n.h, n.lastExec, n.applied = cp.Seq, cp.Seq, cp.Seq
		n.stable = stableProof{seq: cp.Seq, digest: cp.Digest, proof: cp.Proof}
		n.stableSS = &snapshot{seq: cp.Seq, digest: cp.Digest, appDigest: cp.AppDigest,
			clients: cp.Clients, appState: cp.AppState, ok: true}
	}
	n.view, n.active = p.Hard.View, !p.Hard.Changing
	if nv := p.Hard.NewView; n.active && nv != nil && nv.View == n.view {
		n.newView = nv
	}
	// Before the crash this replica may have announced anything in its
	// view up to its durable checkpoint plus the window (see early.go).
	n.fence = restartFence{on: true, view: n.view, seq: n.h + c.Window}
	n.out.hardDurable, n.out.durableH = true, n.h
	var recommit []recommitted
	for _, pe := range p.Entries {
		if pe.Seq <= n.h || pe.Seq > n.h+c.Window {
			continue
		}
		e := n.entry(pe.Seq)
		if pe.PrePrepare != nil {
			e.pps[pe.PrePrepare.View] = pe.PrePrepare
			if pe.PrePrepare.View == n.view && n.isPrimary() {
				n.nextSeq = max(n.nextSeq, pe.Seq)
			}
		}
		e.cert = pe.Prepared
		if pc := pe.Prepared; pc != nil {
			// our commit for it was sent before the crash; recreate it
			cm := &Commit{View: pc.PrePrepare.View, Seq: pe.Seq, Digest: pc.PrePrepare.Digest, Replica: c.ID}
			n.sign(cm)
			n.addCommit(e, cm)
			if pe.CommitPP == nil {
				recommit = append(recommit, recommitted{e, cm})
			}
		}
		if pp := pe.PrePrepare; pp != nil && pp.View == n.view && n.Primary(n.view) != c.ID {
			p := &Prepare{View: n.view, Seq: pe.Seq, Digest: pp.Digest, Replica: c.ID}
			n.sign(p)
			e.prepares[c.ID] = p
		}
		if pe.CommitPP != nil && len(pe.Commits) > 0 {
			e.commitPP, e.commitCert = pe.CommitPP, pe.Commits
		}
		for _, cm := range pe.Commits {
			if int(cm.Replica) < n.n {
				n.addCommit(e, cm)
			}
		}
	}
	n.nextSeq = max(n.nextSeq, n.h)
	// A prepared batch whose commit certificate was not saved (it rides on
	// a later save, see markLazy): send our commit again, since the others
	// may have restarted too, and take it with theirs.
	for _, r := range recommit {
		if r.e.commitPP == nil {
			n.broadcast(r.commit)
			n.checkCommitted(r.e)
		}
	}
	n.executeCommitted()
	if !n.active {
		n.sendViewChange()
	}
	return n, nil
}

// recommitted is a prepared entry restored without its commit
// certificate, and the commit Restart made for it again.
type recommitted struct {
	e      *entry
	commit *Commit
}

// ID returns the replica's id.
func (n *Node) ID() uint32 { return n.cfg.ID }

// View returns the current view and whether it is active (not changing).
func (n *Node) View() (uint64, bool) { return n.view, n.active }

// LastExecuted returns the last executed sequence number.
func (n *Node) LastExecuted() uint64 { return n.lastExec }

// StableCheckpoint returns the stable checkpoint's sequence and digest.
func (n *Node) StableCheckpoint() (uint64, Digest) { return n.stable.seq, n.stable.digest }

// Primary returns the primary of view v.
func (n *Node) Primary(v uint64) uint32 { return uint32(v % uint64(n.n)) }

// Metrics returns a copy of the replica's counters.
func (n *Node) Metrics() Metrics { return n.metrics }

func (n *Node) isPrimary() bool { return n.Primary(n.view) == n.cfg.ID }

func (n *Node) quorum() int { return 2*n.f + 1 }

func (n *Node) entry(seq uint64) *entry {
	e := n.log[seq]
	if e == nil {
		e = &entry{seq: seq, pps: map[uint64]*PrePrepare{},
			prepares: make([]*Prepare, n.n), commits: map[uint64][]*Commit{}}
		n.log[seq] = e
	}
	return e
}

func (n *Node) inWindow(seq uint64) bool { return seq > n.h && seq <= n.h+n.cfg.Window }

// checkReplica verifies a replica message's sender and signature.
func (n *Node) checkReplica(id uint32, m Message) error {
	if int(id) >= n.n {
		n.metrics.NotMember++
		return fmt.Errorf("%v from replica %d: %w", m.Kind(), id, ErrNotMember)
	}
	if !verify(n.d, n.cfg.Verify, n.cfg.Replicas[id], m) {
		n.metrics.BadSignature++
		return fmt.Errorf("%v from replica %d: %w", m.Kind(), id, ErrBadSignature)
	}
	return nil
}

func (n *Node) invalid(m Message, format string, args ...any) error {
	n.metrics.Invalid++
	return fmt.Errorf("%v: %s: %w", m.Kind(), fmt.Sprintf(format, args...), ErrInvalid)
}

func (n *Node) sign(m Message) { Sign(n.d, n.cfg.Key, m) }

// Step processes one message received from the network. It returns an
// error (and counts it) for a message it rejects; the replica's state is
// never corrupted by bad input.
func (n *Node) Step(m Message) error {
	if m == nil {
		return fmt.Errorf("nil message: %w", ErrInvalid)
	}
	// Our own messages may come back (forwarded certificates, a twin):
	// they are signed by our key and handled like any other.
	switch m := m.(type) {
	case *Request:
		return n.onRequest(m)
	case *PrePrepare:
		return n.onPrePrepare(m)
	case *Prepare:
		return n.onPrepare(m)
	case *Commit:
		return n.onCommit(m)
	case *Checkpoint:
		return n.onCheckpoint(m)
	case *ViewChange:
		return n.onViewChange(m)
	case *NewView:
		return n.onNewView(m)
	case *Status:
		return n.onStatus(m)
	case *StateRequest:
		return n.onStateRequest(m)
	case *StateResponse:
		return n.onStateResponse(m)
	case *Reply:
		return fmt.Errorf("reply sent to a replica: %w", ErrInvalid)
	}
	return fmt.Errorf("unknown message %T: %w", m, ErrInvalid)
}

// Propose submits a client request received by this replica's runtime; it
// is the same as stepping the request.
func (n *Node) Propose(req *Request) error { return n.onRequest(req) }

// Tick advances the replica's logical clock by one tick: batching delay,
// view-change timers, status broadcasts and state-transfer retries.
func (n *Node) Tick() {
	n.now++
	if n.active && n.isPrimary() {
		if n.hasUnassigned() {
			n.batchAge++
		}
		n.tryPropose()
	}
	if n.active && n.timerOn && n.now-n.timerStart >= uint64(n.timeout) {
		n.startViewChange(n.view + 1)
	} else if !n.active && n.vcTimerOn && n.now-n.vcTimerStart >= uint64(n.timeout) {
		n.startViewChange(n.view + 1)
	} else if n.batchStalled() {
		n.startViewChange(n.view + 1)
	}
	if n.statusDue() {
		st := &Status{Replica: n.cfg.ID, View: n.view, Active: n.active, LastExec: n.lastExec, Stable: n.h}
		n.sign(st)
		n.broadcast(st)
	}
	n.tickTransfer()
}

// QuietStatusEvery is how many status intervals a quiet replica lets pass
// between its statuses (see Quiet): statuses say what a peer may have
// missed, and a quiet shard has nothing in flight to miss. A replica that
// lags and knows it is not quiet, so it still asks at the usual pace; one
// that does not know learns it from a peer's status within this many
// intervals, or at once from anything else the shard sends it.
const QuietStatusEvery = 10

// statusDue reports whether this tick is one for a status broadcast: one
// tick in every StatusInterval (each replica its own), and only one such
// in QuietStatusEvery while the replica is quiet.
func (n *Node) statusDue() bool {
	si := uint64(n.cfg.StatusInterval)
	if n.now%si != uint64(n.cfg.ID)%si {
		return false
	}
	return (n.now/si)%QuietStatusEvery == 0 || !n.Quiet()
}

// Quiet reports whether the replica has nothing under way that ticks or
// statuses serve: it is active, no request is pending, no timer runs, no
// batch is in flight beyond the last one executed (nor executed only
// tentatively), no checkpoint of its own awaits its proof, no state
// transfer is due and no peer has said it executed more. A runtime may
// then deliver its ticks in bursts (they keep their number, so every
// timeout keeps its length), and statuses go out less often
// (QuietStatusEvery). Anything that arrives may end it.
func (n *Node) Quiet() bool {
	if !n.active || n.timerOn || n.vcTimerOn || len(n.pending) > 0 || len(n.snapshots) > 0 ||
		n.target != nil || n.transferring || n.applied != n.lastExec || n.nextSeq > n.lastExec {
		return false
	}
	for _, e := range n.peerExec {
		if e > n.lastExec {
			return false
		}
	}
	for seq := range n.log {
		if seq > n.lastExec {
			return false
		}
	}
	return true
}

// NodeStatus is a summary of a replica's state for status displays.
type NodeStatus struct {
	ID           uint32
	View         uint64
	Active       bool
	LastExecuted uint64
	Applied      uint64 // LastExecuted, or beyond it by batches executed tentatively
	Stable       uint64
	StableDigest Digest
	Transferring bool
	Target       uint64 // stable checkpoint beyond LastExecuted being caught up to, or 0
	Pending      int    // known unexecuted client requests
	LogEntries   int
}

// Status returns a summary of the replica's state.
func (n *Node) Status() NodeStatus {
	st := NodeStatus{ID: n.cfg.ID, View: n.view, Active: n.active, LastExecuted: n.lastExec, Applied: n.applied,
		Stable: n.h, StableDigest: n.stable.digest, Transferring: n.transferring, Pending: len(n.pending), LogEntries: len(n.log)}
	if n.target != nil {
		st.Target = n.target.seq
	}
	return st
}
