package pbft

import "slices"

// Destination says where an Outbound message goes.
type Destination struct {
	// Broadcast sends to every other replica; otherwise the message goes to
	// Replica, or to Client when ToClient is set.
	Broadcast bool
	ToClient  bool
	Replica   uint32
	Client    ClientID
}

// Outbound is a message to send.
type Outbound struct {
	To  Destination
	Msg Message
}

// HardState is the replica's durable view state.
type HardState struct {
	View uint64
	// Changing is true while the replica is changing to View (the zero
	// value is view 0, active).
	Changing bool
	// NewView is the new-view message that started View, when the replica
	// is active in it (nil in view 0). A restarted replica shows it to
	// peers still in an older view, which could otherwise only follow
	// after yet another view change.
	NewView *NewView
}

// Entry is the durable state of one sequence number above the stable
// checkpoint. A later Entry with the same Seq replaces an earlier one.
type Entry struct {
	Seq uint64
	// PrePrepare is the pre-prepare accepted in the latest view (or nil).
	PrePrepare *PrePrepare
	// Prepared is the highest-view prepared certificate (or nil).
	Prepared *PreparedCert
	// CommitPP and Commits are the committed batch and its 2f+1 commits,
	// set once the sequence number committed.
	CommitPP *PrePrepare
	Commits  []*Commit
}

// StableCheckpoint is the durable stable checkpoint: its proof and the
// snapshot of the state at Seq (application and client table).
type StableCheckpoint struct {
	Seq       uint64
	Digest    Digest
	Proof     []*Checkpoint
	AppDigest Digest
	Clients   []ClientRecord
	AppState  []byte
}

// Persist is what must be durable before the Ready's messages are sent.
type Persist struct {
	// Hard, when non-nil, replaces the stored HardState.
	Hard *HardState
	// Checkpoint, when non-nil, replaces the stored checkpoint; entries at
	// or below its Seq are to be deleted.
	Checkpoint *StableCheckpoint
	// Entries are upserted by Seq (entries at or below the checkpoint are
	// never included). A commit certificate may come in a later Persist
	// than the Ready reporting its batch executed: it goes with the next
	// Persist that holds anything else (see markLazy).
	Entries []Entry
}

// Empty reports whether nothing needs persisting.
func (p *Persist) Empty() bool {
	return p.Hard == nil && p.Checkpoint == nil && len(p.Entries) == 0
}

// Persisted is everything a replica persisted, handed to Restart.
type Persisted struct {
	Hard       HardState
	Checkpoint *StableCheckpoint
	Entries    []Entry
}

// Batch is a batch the replica executed: its sequence number, the view and
// digest it committed with, and the requests actually applied (requests
// already executed earlier are filtered out) with their results.
type Batch struct {
	Seq      uint64
	View     uint64
	Digest   Digest
	Requests []*Request
	Results  [][]byte
}

// Ready is the replica's output since the last Advance: first persist
// Persist durably, then send Messages. Executed lists the batches the
// replica applied to its Application, in order.
type Ready struct {
	Persist  Persist
	Messages []Outbound
	Executed []Batch
}

// outbox accumulates a Node's output between Advances.
type outbox struct {
	gen      uint64 // starts at 1; a mark records the generation it was made in
	msgs     []Outbound
	cached   []cachedGroup // replies from the client table, signed by Ready
	executed []Batch
	hardGen  uint64 // 0: clean
	cp       *StableCheckpoint
	// dirty are the entries (seq -> generation) to persist before this
	// output's messages go out.
	dirty map[uint64]uint64
	// lazy are entries whose new state nothing sent depends on (a commit
	// certificate, see markLazy): they are saved with the next Ready that
	// persists anything else, never on their own.
	lazy map[uint64]uint64

	// durableGen is the newest generation known durable (Advance).
	durableGen uint64
	// hardDurable says a hard state was persisted (or loaded); durableH
	// is the sequence of the newest durable stable checkpoint.
	hardDurable bool
	durableH    uint64
	// now holds the messages Ahead returns: early announcements and
	// tentative replies, which may be sent before any Ready.
	now []Outbound

	// what the last Ready handed out
	readyGen   uint64
	readyMsgs  int
	readyExec  int
	readyCP    *StableCheckpoint
	readyLazy  bool // the lazy entries went with it
	readyValid bool
}

// HasReady reports whether Ready would return anything.
func (n *Node) HasReady() bool {
	o := &n.out
	return len(o.msgs) > 0 || len(o.cached) > 0 || len(o.executed) > 0 || o.hardGen != 0 || o.cp != nil || len(o.dirty) > 0
}

// Ready returns what to persist, send and report since the last Advance.
// Persist it, then send the messages, then call Advance.
func (n *Node) Ready() Ready {
	n.flushCached()
	o := &n.out
	rd := Ready{Messages: slices.Clone(o.msgs), Executed: slices.Clone(o.executed)}
	if o.hardGen != 0 {
		rd.Persist.Hard = &HardState{View: n.view, Changing: !n.active}
		if n.active && n.newView != nil && n.newView.View == n.view {
			rd.Persist.Hard.NewView = n.newView
		}
	}
	rd.Persist.Checkpoint = o.cp
	withLazy := o.hardGen != 0 || o.cp != nil || len(o.dirty) > 0
	seqs := make([]uint64, 0, len(o.dirty)+len(o.lazy))
	for s := range o.dirty {
		seqs = append(seqs, s)
	}
	if withLazy {
		for s := range o.lazy {
			if _, ok := o.dirty[s]; !ok {
				seqs = append(seqs, s)
			}
		}
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		if e := n.log[s]; e != nil && s > n.h {
			rd.Persist.Entries = append(rd.Persist.Entries, e.persisted())
		}
	}
	o.readyGen, o.readyMsgs, o.readyExec, o.readyCP, o.readyLazy, o.readyValid = o.gen, len(o.msgs), len(o.executed), o.cp, withLazy, true
	o.gen++
	return rd
}

// Advance acknowledges the last Ready: its state is durable and its
// messages are sent. Output produced after that Ready is kept.
func (n *Node) Advance() {
	o := &n.out
	if !o.readyValid {
		return
	}
	o.durableGen = o.readyGen
	o.msgs = append(o.msgs[:0], o.msgs[o.readyMsgs:]...)
	o.executed = append(o.executed[:0], o.executed[o.readyExec:]...)
	if o.hardGen != 0 && o.hardGen <= o.readyGen {
		o.hardGen = 0
		o.hardDurable = true
	}
	if o.readyCP != nil {
		o.durableH = max(o.durableH, o.readyCP.Seq)
	}
	if o.cp == o.readyCP {
		o.cp = nil
	}
	for s, g := range o.dirty {
		if g <= o.readyGen {
			delete(o.dirty, s)
		}
	}
	if o.readyLazy {
		for s, g := range o.lazy {
			if g <= o.readyGen {
				delete(o.lazy, s)
			}
		}
	}
	o.readyValid = false
}

func (n *Node) send(to Destination, m Message) {
	n.out.msgs = append(n.out.msgs, Outbound{To: to, Msg: m})
}

func (n *Node) broadcast(m Message) { n.send(Destination{Broadcast: true}, m) }

func (n *Node) sendTo(r uint32, m Message) {
	if r != n.cfg.ID {
		n.send(Destination{Replica: r}, m)
	}
}

func (n *Node) markDirty(seq uint64) { n.out.dirty[seq] = n.out.gen }

// markLazy marks seq's entry for saving when nothing sent depends on its
// new state: a commit certificate. Commits play no part in view changes
// (prepared certificates carry what committed), and a restarted replica
// that lost one gets it again from its peers (onStatus); what executed by
// it is rebuilt from the stable checkpoint. So the certificate waits for
// the next save that something else requires, usually the next batch's
// prepared certificate, and a batch costs one fsync instead of two.
func (n *Node) markLazy(seq uint64) { n.out.lazy[seq] = n.out.gen }

func (n *Node) markHard() { n.out.hardGen = n.out.gen }
