package pbft

import "testing"

func TestTentativeRepliesAnswerBeforeTheBatchCommits(t *testing.T) {
	c := newCluster(t, 4)
	noCommits := func(_, _ int, m Message) bool { return isKind[*Commit](m) }
	c.queue("op")
	for i := 0; i < 10 && c.result == nil; i++ {
		c.tickDropping(noCommits)
	}
	if c.result == nil || string(c.result.Value) != "1" {
		t.Fatalf("no result from tentative replies while commits are lost: %+v", c.result)
	}
	for i, n := range c.nodes {
		if n.LastExecuted() != 0 || c.apps[i].n != 1 || n.Metrics().BatchesTentative != 1 {
			t.Fatalf("replica %d: executed %d (want 0: nothing committed), application at %d (want 1), %d tentative",
				i, n.LastExecuted(), c.apps[i].n, n.Metrics().BatchesTentative)
		}
	}
	// Once the commits flow (the lost ones are retransmitted on status)
	// the batch is confirmed, not applied again.
	if res := c.submit("op2", nil); string(res.Value) != "2" {
		t.Fatalf("second result %q, want 2", res.Value)
	}
	for i := 0; i < 200 && !c.allExecuted(2); i++ {
		c.tick(nil)
	}
	for i, n := range c.nodes {
		if n.LastExecuted() != 2 || c.apps[i].n != 2 || n.Metrics().Rollbacks != 0 {
			t.Fatalf("replica %d: executed %d, application at %d (want 2), %d rollbacks", i, n.LastExecuted(), c.apps[i].n,
				n.Metrics().Rollbacks)
		}
	}
}

func TestFewerThanQuorumTentativeRepliesAreNotAResult(t *testing.T) {
	c := newCluster(t, 4)
	c.queue("op")
	// Commits are lost and only replicas 0 and 1 reach the client: two
	// tentative replies, f+1 but not 2f+1.
	drop := func(from, to int, m Message) bool {
		return isKind[*Commit](m) || (to == -1 && from >= 2)
	}
	for range 10 {
		c.tickDropping(drop)
	}
	if c.result != nil {
		t.Fatalf("accepted %q from two tentative replies", c.result.Value)
	}
}

// A batch that prepared at one replica only runs ahead there; a new view
// that does not carry it replaces it with a null batch, and that replica
// must undo it and end in the same state as the others.
func TestABatchReplacedInANewViewIsRolledBack(t *testing.T) {
	c := newCluster(t, 4)
	const ahead = 3
	c.queue("op")
	// Only replica 3 sees the prepares; no commits; no status (which would
	// retransmit what was lost).
	onlyAheadPrepares := func(_, to int, m Message) bool {
		return isKind[*Commit](m) || isKind[*Status](m) || (isKind[*Prepare](m) && to != ahead)
	}
	for range 3 {
		c.tickDropping(onlyAheadPrepares)
	}
	if c.apps[ahead].n != 1 || c.nodes[ahead].Metrics().BatchesTentative != 1 {
		t.Fatalf("replica %d did not run ahead: application at %d", ahead, c.apps[ahead].n)
	}
	if c.result != nil {
		t.Fatal("a result from one tentative reply")
	}
	// The view changes without replica 3's view change (its prepared
	// certificate), so view 1 puts a null batch at sequence 1. Nothing
	// else is proposed or committed yet.
	silenceAhead := func(from, _ int, m Message) bool {
		if v, ok := m.(*Prepare); ok && v.View == 0 {
			return true
		}
		return from == ahead || isKind[*Commit](m) || isKind[*Status](m) || isKind[*PrePrepare](m)
	}
	for i := 0; i < 400 && !c.allInView(1); i++ {
		c.tickDropping(silenceAhead)
	}
	if !c.allInView(1) {
		t.Fatal("no new view")
	}
	if got := c.nodes[ahead].Metrics().Rollbacks; got != 1 || c.apps[ahead].n != 0 {
		t.Fatalf("replica %d rolled back %d times (want 1), application at %d (want 0)", ahead, got, c.apps[ahead].n)
	}
	// The client's request executes in view 1, once, everywhere.
	c.result = nil
	for i := 0; i < 400 && c.result == nil; i++ {
		c.tick(nil)
	}
	if c.result == nil || string(c.result.Value) != "1" {
		t.Fatalf("result %+v, want 1 (executed once)", c.result)
	}
	for range 20 {
		c.tick(nil)
	}
	for i, n := range c.nodes {
		if c.apps[i].n != 1 || n.applied != n.LastExecuted() {
			t.Fatalf("replica %d: application at %d (want 1), applied %d, executed %d", i, c.apps[i].n, n.applied, n.LastExecuted())
		}
	}
}

// A view change that keeps, at the same sequence numbers, every batch that
// ran ahead leaves the state alone: no rollback, no second execution.
func TestANewViewKeepingTheBatchesRunAheadRollsNothingBack(t *testing.T) {
	c := newCluster(t, 4)
	c.queue("op")
	// Every replica prepares and runs the batch ahead; no commit arrives,
	// so the request timers change the view.
	noCommits := func(_, _ int, m Message) bool {
		cm, ok := m.(*Commit)
		return (ok && cm.View == 0) || isKind[*Status](m)
	}
	for i := 0; i < 400 && !c.allInView(1); i++ {
		c.tickDropping(noCommits)
	}
	if !c.allInView(1) {
		t.Fatal("no new view")
	}
	for i := 0; i < 200 && !c.allExecuted(1); i++ {
		c.tick(nil)
	}
	for i, n := range c.nodes {
		m := n.Metrics()
		if m.BatchesTentative != 1 || m.Rollbacks != 0 || c.apps[i].n != 1 || n.LastExecuted() < 1 {
			t.Fatalf("replica %d: %d run ahead, %d rollbacks, application at %d, executed %d (want 1, 0, 1, >= 1)",
				i, m.BatchesTentative, m.Rollbacks, c.apps[i].n, n.LastExecuted())
		}
	}
}
