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
