package pbft

// Early messages. A replica persists what it accepted before it sends the
// messages that depend on it (Ready), with two exceptions that cut two
// fsyncs from the path of every batch: in the normal case the primary's
// pre-prepare and a backup's prepare go out at once (Ahead), before the
// state they announce is durable (it is saved with the batch's prepared
// certificate, see saveUnlessEarly).
//
// That is safe because a replica that restarts never sends a pre-prepare
// or prepare again in the view it restarts in for any sequence number it
// might have sent one for before the crash: early messages are only sent in
// a view whose hard state is durable, for sequence numbers up to the durable
// stable checkpoint plus the window; a restarted replica fences exactly
// those (its loaded view, up to its loaded checkpoint plus the window). So
// it never announces two batches for one sequence number in one view, the
// guarantee that PBFT's persisted log gives. What it persisted it may
// repeat (Restart rebuilds its prepares). A restarted primary therefore
// proposes nothing more in its view (its backups change views), and a
// restarted backup prepares again once the window has moved past the
// fence; until then it still commits and executes by the others' prepares.
//
// Commits, tentative replies and everything else still wait for their
// state: a prepared certificate must survive a crash for view changes to
// keep what committed.

// earlyAllowed reports whether a pre-prepare or prepare for seq in the
// current view may be sent before the state it announces is durable.
func (n *Node) earlyAllowed(seq uint64) bool {
	o := &n.out
	return n.active && o.hardDurable && o.hardGen == 0 && seq <= o.durableH+n.cfg.Window
}

// saveUnlessEarly marks seq's entry for saving when the pre-prepare just
// accepted or proposed there is announced with a Ready (its state must be
// durable first). Announced early, it needs no save of its own: the fence
// already keeps a restarted replica from announcing anything else for seq
// in this view, and the entry is saved with its prepared certificate, one
// write of the batch instead of two.
func (n *Node) saveUnlessEarly(seq uint64) {
	if !n.earlyAllowed(seq) {
		n.markDirty(seq)
	}
}

// fenced reports whether this replica must not send a pre-prepare or
// prepare for seq in the current view, having restarted in it.
func (n *Node) fenced(seq uint64) bool {
	return n.fence.on && n.view == n.fence.view && seq <= n.fence.seq
}

// announce broadcasts pp's or a prepare's message m for seq: at once when
// allowed (see earlyAllowed), else with the Ready that persists its state.
func (n *Node) announce(m Message, seq uint64) {
	if n.earlyAllowed(seq) {
		n.out.now = append(n.out.now, Outbound{To: Destination{Broadcast: true}, Msg: m})
		return
	}
	n.broadcast(m)
}

// restartFence is what a restarted replica may have announced early.
type restartFence struct {
	on   bool
	view uint64
	seq  uint64
}
