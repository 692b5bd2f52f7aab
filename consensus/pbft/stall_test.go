package pbft

import "testing"

// TestStalledBatchLeadsToAViewChange: a faulty primary sends two backups a
// null batch and the third another batch for the same sequence, then goes
// silent. No 2f+1 commits can match and the two backups hold no pending
// request, so only the stall watch makes them change views; the new view
// commits the batch that prepared.
func TestStalledBatchLeadsToAViewChange(t *testing.T) {
	c := newCluster(t, 4)
	c.submit("a", nil)
	seq := c.nodes[0].LastExecuted() + 1

	q, _, err := c.client.Submit([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	prePrepare := func(batch []*Request) *PrePrepare {
		pp := &PrePrepare{View: 0, Seq: seq, Digest: testDomain.BatchDigest(batch), Replica: 0, Batch: batch}
		Sign(testDomain, testKey("replica", 0), pp)
		return pp
	}
	null, other := prePrepare(nil), prePrepare([]*Request{q})
	for i, pp := range map[int]*PrePrepare{1: null, 3: null, 2: other} {
		if err := c.nodes[i].Step(pp); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	silent := func(from, to int, _ Message) bool { return from == 0 || to == 0 || from == -1 || to == -1 }
	for range 40 * DefaultViewChangeTimeout {
		c.tickDropping(silent)
		if c.nodes[1].LastExecuted() >= seq && c.nodes[2].LastExecuted() >= seq && c.nodes[3].LastExecuted() >= seq {
			break
		}
	}
	for i := 1; i < 4; i++ {
		view, active := c.nodes[i].View()
		if c.nodes[i].LastExecuted() < seq || view == 0 || !active {
			t.Fatalf("replica %d: executed %d (want %d), view %d active %v", i, c.nodes[i].LastExecuted(), seq, view, active)
		}
	}
}
