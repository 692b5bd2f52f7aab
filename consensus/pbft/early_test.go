package pbft

import "testing"

// A primary announces its pre-prepare before persisting it and crashes:
// restarted, it must not announce another batch for that sequence number
// in that view (it proposes nothing more in it), and the shard goes on in
// the next view with every request executed once.
func TestRestartedPrimaryNeverAnnouncesTwiceInItsView(t *testing.T) {
	c := newCluster(t, 4)
	if res := c.submit("first", nil); string(res.Value) != "1" {
		t.Fatalf("first result %q", res.Value)
	}
	// The second request reaches only the primary, which proposes it and
	// sends the pre-prepare at once, then crashes before its Ready is
	// persisted.
	q, _, err := c.client.Submit([]byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	primary := c.nodes[0]
	if err := primary.Step(q); err != nil {
		t.Fatal(err)
	}
	primary.Tick()
	early := primary.Ahead()
	var announced *PrePrepare
	for _, ob := range early {
		if pp, ok := ob.Msg.(*PrePrepare); ok {
			announced = pp
		}
	}
	if announced == nil || announced.Seq != 2 {
		t.Fatalf("the primary announced %+v early, want the pre-prepare of sequence 2", announced)
	}
	// Announced early, the pre-prepare is not saved on its own (it is
	// saved with its prepared certificate, which the crash comes before).
	if primary.HasReady() {
		for _, e := range primary.Ready().Persist.Entries {
			if e.Seq == 2 {
				t.Fatal("the early pre-prepare is saved on its own")
			}
		}
	}
	app := &counterApp{}
	restarted, err := Restart(c.config(0, app), c.stores[0].load())
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0], c.apps[0] = restarted, app
	// The early pre-prepare is lost; the client's retransmissions reach
	// everyone. Whatever the restarted primary sends in view 0 must not
	// be a pre-prepare.
	watch := func(from, _ int, m Message) bool {
		if pp, ok := m.(*PrePrepare); ok && from == 0 && pp.View == 0 {
			t.Fatalf("the restarted primary announced sequence %d in view 0 again", pp.Seq)
		}
		return false
	}
	c.result = nil
	for i := 0; i < 2000 && c.result == nil; i++ {
		c.tickDropping(watch)
	}
	if c.result == nil || string(c.result.Value) != "2" {
		t.Fatalf("second result %+v, want 2", c.result)
	}
	if v, _ := c.nodes[1].View(); v == 0 {
		t.Fatal("the backups never left the restarted primary's view")
	}
	for i := 0; i < 200 && !c.allExecuted(2); i++ {
		c.tick(nil)
	}
	for i, a := range c.apps {
		if a.n != 2 {
			t.Fatalf("replica %d applied %d requests, want 2", i, a.n)
		}
	}
}
