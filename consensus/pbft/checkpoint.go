package pbft

import "slices"

// takeCheckpoint records the state after executing seq (a multiple of K):
// its digest, a snapshot to serve state transfer from, and a signed
// checkpoint message to every replica.
func (n *Node) takeCheckpoint(seq uint64) {
	ss := n.snapshotApp(seq)
	n.snapshots[seq] = ss
	c := &Checkpoint{Seq: seq, Digest: ss.digest, Replica: n.cfg.ID}
	n.sign(c)
	n.broadcast(c)
	n.storeCheckpoint(c)
}

// snapshotApp records the application's and the client table's state as
// the state after seq.
func (n *Node) snapshotApp(seq uint64) *snapshot {
	app := n.cfg.App.Digest()
	clients := n.clientRecords()
	ss := &snapshot{seq: seq, appDigest: app, clients: clients, digest: n.d.StateDigest(app, clients)}
	if st, err := n.cfg.App.Snapshot(); err != nil {
		n.metrics.SnapshotErrors++
	} else {
		ss.appState, ss.ok = st, true
	}
	return ss
}

func (n *Node) onCheckpoint(c *Checkpoint) error {
	if err := n.checkReplica(c.Replica, c); err != nil {
		return err
	}
	if c.Seq == 0 || c.Seq%n.cfg.CheckpointInterval != 0 {
		return n.invalid(c, "sequence %d is not a checkpoint", c.Seq)
	}
	if c.Seq <= n.h {
		return nil
	}
	n.storeCheckpoint(c)
	return nil
}

// storeCheckpoint keeps at most window/K+2 checkpoints per replica (its
// newest), then checks whether c's sequence became stable.
func (n *Node) storeCheckpoint(c *Checkpoint) {
	cs := n.cps[c.Seq]
	if cs == nil {
		cs = make([]*Checkpoint, n.n)
		n.cps[c.Seq] = cs
	}
	if old := cs[c.Replica]; old != nil {
		// A second, different checkpoint of one sequence from one replica
		// proves it faulty; of its two signed claims, keep the one more
		// replicas agree with, so a first one sent to mislead never keeps
		// this replica from seeing the stable proof the others hold.
		if old.Digest == c.Digest || agreeing(cs, c.Digest) <= agreeing(cs, old.Digest) {
			return
		}
		cs[c.Replica] = c
		n.checkStable(c.Seq)
		return
	}
	cs[c.Replica] = c
	n.cpCount[c.Replica]++
	if limit := int(n.cfg.Window/n.cfg.CheckpointInterval) + 2; n.cpCount[c.Replica] > limit {
		low := c.Seq
		for s, cs := range n.cps {
			if cs[c.Replica] != nil {
				low = min(low, s)
			}
		}
		n.cps[low][c.Replica] = nil
		n.cpCount[c.Replica]--
	}
	n.checkStable(c.Seq)
}

// agreeing counts the checkpoints in cs with digest d.
func agreeing(cs []*Checkpoint, d Digest) int {
	k := 0
	for _, c := range cs {
		if c != nil && c.Digest == d {
			k++
		}
	}
	return k
}

// checkStable looks for 2f+1 matching checkpoints at seq.
func (n *Node) checkStable(seq uint64) {
	cs := n.cps[seq]
	for i, c := range cs {
		if c == nil {
			continue
		}
		proof := []*Checkpoint{c}
		for _, o := range cs[i+1:] {
			if o != nil && o.Digest == c.Digest && len(proof) < n.quorum() {
				proof = append(proof, o)
			}
		}
		if len(proof) >= n.quorum() {
			n.onStableProof(seq, c.Digest, proof)
			return
		}
	}
}

// onStableProof handles a checkpoint proven stable by 2f+1 signatures. If
// this replica executed that far with the same digest, the checkpoint
// becomes its low watermark; if it is behind, it waits a little to catch
// up on its own and then asks for state; if its digest differs, it has
// diverged and asks for state at once.
func (n *Node) onStableProof(seq uint64, d Digest, proof []*Checkpoint) {
	if seq <= n.h {
		return
	}
	if n.lastExec >= seq {
		if ss := n.snapshots[seq]; ss != nil && ss.digest == d {
			n.advanceStable(seq, d, proof, ss)
			return
		}
		// Our state differs from the proven one: forget what we executed
		// since our stable checkpoint and fetch the proven state.
		n.metrics.DivergentCheckpoints++
		n.forgetTentative()
		n.lastExec, n.applied = n.h, n.h
		n.rescan()
		n.target, n.targetSince = &stableProof{seq, d, proof}, n.now
		n.beginTransfer()
		return
	}
	if n.target == nil || seq > n.target.seq {
		n.target, n.targetSince = &stableProof{seq, d, proof}, n.now
	}
}

// advanceStable makes seq the stable checkpoint: the watermarks move, the
// log and older checkpoints are discarded, and the checkpoint with its
// snapshot is handed to storage.
func (n *Node) advanceStable(seq uint64, d Digest, proof []*Checkpoint, ss *snapshot) {
	n.h = seq
	n.stable = stableProof{seq: seq, digest: d, proof: slices.Clone(proof)}
	n.stableSS = ss
	n.genesis = nil // rollbacks start from the stable checkpoint now
	n.metrics.CheckpointsStable++
	n.truncate(seq)
	if ss.ok {
		n.out.cp = &StableCheckpoint{Seq: seq, Digest: d, Proof: n.stable.proof, AppDigest: ss.appDigest,
			Clients: ss.clients, AppState: ss.appState}
	}
	if n.target != nil && n.target.seq <= seq {
		n.target = nil
	}
	n.tryPropose()
}

// truncate discards all state at or below seq.
func (n *Node) truncate(seq uint64) {
	for s := range n.log {
		if s <= seq {
			delete(n.log, s)
			delete(n.out.dirty, s)
			delete(n.out.lazy, s)
		}
	}
	for s, cs := range n.cps {
		if s <= seq {
			for _, c := range cs {
				if c != nil {
					n.cpCount[c.Replica]--
				}
			}
			delete(n.cps, s)
		}
	}
	for s := range n.snapshots {
		if s <= seq {
			delete(n.snapshots, s)
		}
	}
	n.nextSeq = max(n.nextSeq, seq)
}

// verifyProof checks a stable-checkpoint proof: 2f+1 checkpoints for
// (seq, d) signed by distinct replicas. Sequence 0 (genesis) needs none.
func (n *Node) verifyProof(seq uint64, d Digest, proof []*Checkpoint) bool {
	if seq == 0 {
		return len(proof) == 0 && d == Digest{}
	}
	if seq%n.cfg.CheckpointInterval != 0 || len(proof) < n.quorum() || len(proof) > n.n {
		return false
	}
	seen := make([]bool, n.n)
	for _, c := range proof {
		if c == nil || int(c.Replica) >= n.n || seen[c.Replica] || c.Seq != seq || c.Digest != d ||
			!verify(n.d, n.cfg.Verify, n.cfg.Replicas[c.Replica], c) {
			return false
		}
		seen[c.Replica] = true
	}
	return true
}
