package pbft

import "testing"

// forwardedRequests steps q into replica i and returns how many requests
// it then sends to other replicas.
func forwardedRequests(t *testing.T, c *cluster, i int, q *Request) int {
	t.Helper()
	if err := c.nodes[i].Step(q); err != nil {
		t.Fatal(err)
	}
	k := 0
	if c.nodes[i].HasReady() {
		for _, ob := range c.nodes[i].Ready().Messages {
			if isKind[*Request](ob.Msg) && !ob.To.ToClient {
				k++
			}
		}
		c.nodes[i].Advance()
	}
	return k
}

// TestClientsCopyAfterTheBatchIsNoRetransmission: a backup that saw a
// request in a pre-prepare before the client's own copy came does not
// forward that copy to the primary (which proposed it); a copy after that
// is a retransmission, and is forwarded.
func TestClientsCopyAfterTheBatchIsNoRetransmission(t *testing.T) {
	c := newCluster(t, 4)
	q, out, err := c.client.Submit([]byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ob := range out { // to the primary only
		if err := c.nodes[ob.To.Replica].Step(ob.Msg); err != nil {
			t.Fatal(err)
		}
	}
	batchOnly := func(_, to int, m Message) bool { return to == 1 && !isKind[*PrePrepare](m) } // backup 1 gets the batch only
	c.tickDropping(batchOnly)
	if c.nodes[1].Status().Pending != 1 {
		t.Fatalf("backup 1 holds %d pending requests after the pre-prepare, want 1", c.nodes[1].Status().Pending)
	}
	copyOf := func() *Request { m, _ := Decode(Encode(q)); return m.(*Request) }
	if k := forwardedRequests(t, c, 1, copyOf()); k != 0 {
		t.Fatalf("the client's first copy after the batch: %d forwarded, want none", k)
	}
	if k := forwardedRequests(t, c, 1, copyOf()); k != 1 {
		t.Fatalf("a retransmission: %d forwarded, want 1", k)
	}
}
