package pbft

import "testing"

// statusesOf ticks c for ticks ticks and counts the statuses replica from
// sends; isolated replicas neither send nor receive anything.
func statusesOf(c *cluster, from, ticks int, isolated map[int]bool) int {
	sent := 0
	drop := func(f, to int, m Message) bool {
		if f == from && isKind[*Status](m) {
			sent++
		}
		return isolated[f] || (to >= 0 && isolated[to])
	}
	for range ticks {
		c.tickDropping(drop)
	}
	return sent / (len(c.nodes) - 1) // a broadcast is delivered to each peer
}

// TestQuietReplicaSendsFewerStatuses: a replica with nothing under way
// reports its status once in QuietStatusEvery intervals; one with a
// request pending, every interval.
func TestQuietReplicaSendsFewerStatuses(t *testing.T) {
	c := newCluster(t, 4)
	si := DefaultStatusInterval
	window := 2 * QuietStatusEvery * si

	c.submit("a", nil)
	for i, n := range c.nodes {
		if !n.Quiet() {
			t.Fatalf("replica %d is not quiet once the shard executed everything", i)
		}
	}
	if got := statusesOf(c, 1, window, nil); got != 2 {
		t.Fatalf("a quiet replica sent %d statuses in %d intervals, want 2", got, 2*QuietStatusEvery)
	}

	_, out, err := c.client.Submit([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ob := range out { // only replica 1 hears of it, and cannot pass it on
		if err := c.nodes[1].Step(ob.Msg); err != nil {
			t.Fatal(err)
		}
	}
	if c.nodes[1].Quiet() {
		t.Fatal("a replica with a pending request is quiet")
	}
	isolated := map[int]bool{1: true}
	c.inbox, c.froms = nil, nil
	if got := statusesOf(c, 1, window, isolated); got != 2*QuietStatusEvery {
		t.Fatalf("a replica with a pending request sent %d statuses in %d intervals, want one in each", got, 2*QuietStatusEvery)
	}
}
