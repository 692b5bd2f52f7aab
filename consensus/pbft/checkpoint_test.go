package pbft

import (
	"fmt"
	"testing"
)

// Checkpoint messages lost everywhere are sent again in answer to a
// status, or no checkpoint would become stable and the window would close.
func TestLostCheckpointsAreSentAgainOnStatus(t *testing.T) {
	c := newCluster(t, 4)
	noCheckpoints := func(_, _ int, m Message) bool { return isKind[*Checkpoint](m) }
	for i := range 4 {
		c.queue(fmt.Sprintf("op%d", i))
		for range 50 {
			if c.result != nil {
				break
			}
			c.tickDropping(noCheckpoints)
		}
		if c.result == nil {
			t.Fatalf("op%d: no result", i)
		}
	}
	for range 50 {
		c.tickDropping(noCheckpoints)
	}
	for i, n := range c.nodes {
		if seq, _ := n.StableCheckpoint(); seq != 0 || n.LastExecuted() != 4 {
			t.Fatalf("replica %d: stable %d, executed %d before checkpoints flow (want 0, 4)", i, seq, n.LastExecuted())
		}
	}
	for i := 0; i < 100 && !c.allStable(4); i++ {
		c.tick(nil)
	}
	if !c.allStable(4) {
		t.Fatal("the lost checkpoints at 4 never became stable")
	}
}

// TestEquivocatedCheckpointDoesNotHideTheStableProof: a faulty replica
// sends a lagging replica a checkpoint with a false digest first, then its
// true one comes with the others' (as a status answer carries a stable
// proof). The lagging replica keeps the claim the quorum agrees with and
// sees the checkpoint stable, so it can catch up by state transfer.
func TestEquivocatedCheckpointDoesNotHideTheStableProof(t *testing.T) {
	c := newCluster(t, 4)
	isolated := func(from, to int, _ Message) bool { return from == 2 || to == 2 }
	for i := range 4 {
		_, out, err := c.client.Submit(fmt.Appendf(nil, "op%d", i))
		if err != nil {
			t.Fatal(err)
		}
		for _, ob := range out {
			c.inbox, c.froms = append(c.inbox, ob), append(c.froms, -1)
		}
		for range 50 {
			c.tickDropping(isolated)
		}
	}
	proof := c.nodes[0].stable.proof
	if s, _ := c.nodes[0].StableCheckpoint(); s != 4 || len(proof) != 3 {
		t.Fatalf("the others' stable checkpoint: %d with %d proofs, want 4 with 3", s, len(proof))
	}
	liar := proof[len(proof)-1].Replica
	forged := &Checkpoint{Seq: 4, Digest: Digest{0xba, 0xd}, Replica: liar}
	Sign(testDomain, testKey("replica", int(liar)), forged)

	lagging := c.nodes[2]
	if err := lagging.Step(forged); err != nil {
		t.Fatal(err)
	}
	for _, cp := range proof {
		if err := lagging.Step(cp); err != nil {
			t.Fatal(err)
		}
	}
	if st := lagging.Status(); st.Target != 4 {
		t.Fatalf("lagging replica: target %d after the stable proof of 4 (executed %d)", st.Target, st.LastExecuted)
	}
}
