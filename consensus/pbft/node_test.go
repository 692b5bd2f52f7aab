package pbft

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
)

func TestNormalCaseCheckpointsAndExactlyOnce(t *testing.T) {
	c := newCluster(t, 4)
	for i := range 10 {
		res := c.submit(fmt.Sprintf("op%d", i), nil)
		if want := fmt.Sprint(i + 1); string(res.Value) != want {
			t.Fatalf("op%d: result %q, want %q", i, res.Value, want)
		}
	}
	for i, n := range c.nodes {
		if n.LastExecuted() < 10 || c.apps[i].n != 10 {
			t.Fatalf("replica %d executed %d, applied %d", i, n.LastExecuted(), c.apps[i].n)
		}
		if h, _ := n.StableCheckpoint(); h < 8 {
			t.Fatalf("replica %d stable checkpoint %d, want >= 8", i, h)
		}
	}
	// A retransmitted request gets the cached reply and is not re-executed.
	old := c.client.cur
	if old != nil {
		t.Fatal("client still busy")
	}
	last := &Request{Client: c.client.ID(), Timestamp: c.client.next - 1, Op: []byte("op9")}
	Sign(testDomain, testKey("client", 0), last)
	if err := c.nodes[1].Step(last); err != nil {
		t.Fatal(err)
	}
	rd := c.nodes[1].Ready()
	c.nodes[1].Advance()
	if len(rd.Messages) != 1 || !rd.Messages[0].To.ToClient || string(rd.Messages[0].Msg.(*Reply).Result) != "10" {
		t.Fatalf("retransmission answered with %+v", rd.Messages)
	}
	if c.apps[1].n != 10 {
		t.Fatal("retransmission re-executed")
	}
}

func TestViewChangeWhenPrimaryIsDown(t *testing.T) {
	c := newCluster(t, 4)
	c.submit("a", nil)
	down := map[int]bool{0: true}
	res := c.submit("b", down)
	if res.View == 0 {
		t.Fatal("result came from view 0 with its primary down")
	}
	for i := 1; i < 4; i++ {
		if v, active := c.nodes[i].View(); v == 0 || !active {
			t.Fatalf("replica %d in view %d active=%v", i, v, active)
		}
		if c.apps[i].n != 2 {
			t.Fatalf("replica %d applied %d", i, c.apps[i].n)
		}
	}
}

func TestRejectsForgedAndNonMemberMessages(t *testing.T) {
	c := newCluster(t, 4)
	n := c.nodes[1]
	p := &Prepare{View: 0, Seq: 1, Replica: 2}
	Sign(testDomain, testKey("replica", 3), p) // signed by the wrong key
	if err := n.Step(p); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged prepare: %v", err)
	}
	q := &Commit{View: 0, Seq: 1, Replica: 9}
	Sign(testDomain, testKey("replica", 9), q)
	if err := n.Step(q); !errors.Is(err, ErrNotMember) {
		t.Fatalf("non-member commit: %v", err)
	}
	other := Domain{ChainID: "test", Shard: 8}
	r := &Prepare{View: 0, Seq: 1, Replica: 2}
	Sign(other, testKey("replica", 2), r)
	if err := n.Step(r); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("prepare signed for another shard: %v", err)
	}
	m := n.Metrics()
	if m.BadSignature != 2 || m.NotMember != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestCrashRestartAndStateTransfer(t *testing.T) {
	c := newCluster(t, 4)
	for i := range 5 {
		c.submit(fmt.Sprintf("a%d", i), nil)
	}
	// Replica 2 crashes; the others go on far enough to truncate their logs.
	down := map[int]bool{2: true}
	for i := range 20 {
		c.submit(fmt.Sprintf("b%d", i), down)
	}
	if h, _ := c.nodes[0].StableCheckpoint(); h <= c.nodes[2].LastExecuted()+4 {
		t.Fatalf("stable checkpoint %d does not pass the crashed replica's %d", h, c.nodes[2].LastExecuted())
	}
	app := &counterApp{}
	n, err := Restart(c.config(2, app), c.stores[2].load())
	if err != nil {
		t.Fatal(err)
	}
	// The fifth batch's commit certificate was never saved: nothing after
	// it needed a save (markLazy). Its prepared certificate was, and its
	// commits come again from the others below.
	if app.n != 4 {
		t.Fatalf("restart replayed to %d operations, want the 4 whose commit certificates were saved", app.n)
	}
	c.nodes[2], c.apps[2] = n, app
	// Now replica 3 is down: progress needs replica 2, which must catch up
	// by state transfer first.
	down = map[int]bool{3: true}
	for i := range 6 {
		c.submit(fmt.Sprintf("c%d", i), down)
	}
	if c.apps[2].n != c.apps[0].n || c.apps[0].n != 31 {
		t.Fatalf("replica 2 applied %d, replica 0 %d, want 31", c.apps[2].n, c.apps[0].n)
	}
	if m := n.Metrics(); m.StateTransfers == 0 {
		t.Fatalf("no state transfer: %+v", m)
	}
}

func TestRestartWhileChangingViews(t *testing.T) {
	c := newCluster(t, 4)
	n, err := Restart(c.config(2, &counterApp{}), &Persisted{Hard: HardState{View: 3, Changing: true}})
	if err != nil {
		t.Fatal(err)
	}
	if v, active := n.View(); v != 3 || active {
		t.Fatalf("restarted in view %d active=%v", v, active)
	}
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Msg.Kind() != KindViewChange {
		t.Fatalf("restart while changing views sent %v", rd.Messages)
	}
}

func TestConfigValidation(t *testing.T) {
	app := &counterApp{}
	pubs := []ed25519.PublicKey{testKey("replica", 0).Public().(ed25519.PublicKey)}
	if _, err := New(Config{ID: 0, Key: testKey("replica", 0), Replicas: pubs, App: app}); err != nil {
		t.Fatalf("single replica: %v", err)
	}
	for name, cfg := range map[string]Config{
		"two replicas": {Key: testKey("replica", 0), Replicas: append(pubs, pubs[0]), App: app},
		"wrong key":    {Key: testKey("replica", 1), Replicas: pubs, App: app},
		"no app":       {Key: testKey("replica", 0), Replicas: pubs},
		"bad window":   {Key: testKey("replica", 0), Replicas: pubs, App: app, CheckpointInterval: 4, Window: 6},
		"deep pacing":  {Key: testKey("replica", 0), Replicas: pubs, App: app, MaxInFlight: 4, PipelineDepth: 5},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// singleReplicaConfig is the config of a shard of one replica running app.
func singleReplicaConfig(app Application) Config {
	key := testKey("replica", 0)
	return Config{ID: 0, Key: key, Replicas: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, App: app}
}

// proposeOne starts a replica of cfg and proposes one client request "x"
// to it, then ticks once.
func proposeOne(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := &Request{Timestamp: 1, Op: []byte("x")}
	ck := testKey("client", 1)
	copy(q.Client[:], ck.Public().(ed25519.PublicKey))
	Sign(Domain{}, ck, q)
	if err := n.Propose(q); err != nil {
		t.Fatal(err)
	}
	n.Tick()
	return n
}

func TestSingleReplicaExecutes(t *testing.T) {
	n := proposeOne(t, singleReplicaConfig(&counterApp{}))
	rd := n.Ready()
	n.Advance()
	if len(rd.Executed) != 1 || len(rd.Persist.Entries) == 0 {
		t.Fatalf("ready %+v", rd)
	}
	if r := rd.Messages[len(rd.Messages)-1].Msg.(*Reply); !bytes.Equal(r.Result, []byte("1")) {
		t.Fatalf("reply %q", r.Result)
	}
}

// TestPendingRequestsAreBounded: a replica holds at most MaxPending
// requests, one per client; requests of further clients are dropped and
// counted, while clients already pending may still send newer requests.
func TestPendingRequestsAreBounded(t *testing.T) {
	c := newCluster(t, 4)
	cfg := c.config(1, &counterApp{})
	cfg.MaxPending = 3
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	request := func(client, ts int) *Request {
		k := testKey("flood", client)
		q := &Request{Timestamp: uint64(ts), Op: []byte("op")}
		copy(q.Client[:], k.Public().(ed25519.PublicKey))
		Sign(testDomain, k, q)
		return q
	}
	for i := range 5 {
		if err := n.Step(request(i, 1)); err != nil {
			t.Fatalf("request of client %d: %v", i, err)
		}
	}
	if got, m := len(n.pending), n.Metrics(); got != 3 || m.DroppedRequests != 2 {
		t.Fatalf("%d pending, %d dropped; want 3 and 2", got, m.DroppedRequests)
	}
	if err := n.Step(request(0, 2)); err != nil || n.pending[request(0, 2).Client].Timestamp != 2 {
		t.Fatalf("a pending client's newer request was not taken: %v", err)
	}
	if m := n.Metrics(); m.DroppedRequests != 2 {
		t.Fatalf("dropped %d, want still 2", m.DroppedRequests)
	}
}

// TestRestartedReplicaShowsItsNewViewToOneBehind: a replica that entered
// its view by a new-view message keeps it in its hard state, so after a
// restart it can still bring a replica left in an older view into its own
// (without it, once every replica of the new view has restarted, the one
// behind could only follow after yet another view change).
func TestRestartedReplicaShowsItsNewViewToOneBehind(t *testing.T) {
	c := newCluster(t, 4)
	c.submit("a", nil)
	c.submit("b", map[int]bool{0: true}) // replica 0 misses the view change
	v, _ := c.nodes[1].View()
	if v == 0 {
		t.Fatal("no view change")
	}
	n, err := Restart(c.config(1, &counterApp{}), c.stores[1].load())
	if err != nil {
		t.Fatal(err)
	}
	if got, active := n.View(); got != v || !active {
		t.Fatalf("restarted in view %d active=%v, want %d active", got, active, v)
	}
	n.Ready()
	n.Advance()
	st := &Status{Replica: 0, View: 0, Active: true, LastExec: 1}
	Sign(testDomain, testKey("replica", 0), st)
	if err := n.Step(st); err != nil {
		t.Fatal(err)
	}
	for _, ob := range n.Ready().Messages {
		if nv, ok := ob.Msg.(*NewView); ok && nv.View == v && !ob.To.Broadcast && ob.To.Replica == 0 {
			if err := c.nodes[0].Step(nv); err != nil {
				t.Fatalf("replica 0 refused the new-view: %v", err)
			}
			if got, active := c.nodes[0].View(); got != v || !active {
				t.Fatalf("replica 0 in view %d active=%v after the new-view, want %d", got, active, v)
			}
			return
		}
	}
	t.Fatalf("the restarted replica did not show its new-view of view %d to replica 0, behind in view 0", v)
}

// TestRestartRecommitsWhatItPrepared: a replica restarts with prepared
// certificates whose commits were not saved yet (they ride on later saves,
// markLazy). It sends its commit for each again, so a lone replica
// executes them at once, and a whole shard restarted together commits them
// among itself, without waiting for a view change.
func TestRestartRecommitsWhatItPrepared(t *testing.T) {
	c := newCluster(t, 4)
	c.submit("a", nil)
	c.submit("b", nil)
	for i := range c.nodes {
		app := &counterApp{}
		n, err := Restart(c.config(i, app), c.stores[i].load())
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[i], c.apps[i] = n, app
	}
	for i := range c.nodes {
		c.collect(i, c.nodes[i])
	}
	c.run(nil)
	for i, n := range c.nodes {
		if v, _ := n.View(); v != 0 || n.LastExecuted() != 2 || c.apps[i].n != 2 {
			t.Fatalf("replica %d after a whole-shard restart: view %d, executed %d, applied %d; want view 0, 2, 2", i, v, n.LastExecuted(), c.apps[i].n)
		}
	}

	cfg := singleReplicaConfig(&counterApp{})
	n := proposeOne(t, cfg)
	store := &testStore{entries: map[uint64]Entry{}}
	for n.HasReady() {
		rd := n.Ready()
		store.apply(&rd.Persist)
		n.Advance()
	}
	if n.LastExecuted() != 1 {
		t.Fatalf("single replica executed %d, want 1", n.LastExecuted())
	}
	app := &counterApp{}
	cfg.App = app
	n, err := Restart(cfg, store.load())
	if err != nil {
		t.Fatal(err)
	}
	if n.LastExecuted() != 1 || app.n != 1 {
		t.Fatalf("a lone replica restarted at executed %d, applied %d; want 1, 1", n.LastExecuted(), app.n)
	}
}
