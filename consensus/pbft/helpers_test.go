package pbft

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"
)

var testDomain = Domain{ChainID: "test", Shard: 7}

func testKey(kind string, i int) ed25519.PrivateKey {
	b := sha256.Sum256(fmt.Appendf(nil, "pbft-test/%s/%d", kind, i))
	return ed25519.NewKeyFromSeed(b[:])
}

// counterApp is a tiny deterministic application for unit tests.
type counterApp struct {
	n   uint64
	log []string
}

func (a *counterApp) Apply(seq uint64, txs [][]byte) [][]byte {
	out := make([][]byte, len(txs))
	for i, tx := range txs {
		a.n++
		a.log = append(a.log, string(tx))
		out[i] = fmt.Appendf(nil, "%d", a.n)
	}
	return out
}
func (a *counterApp) Digest() [32]byte { return sha256.Sum256(fmt.Appendf(nil, "%d", a.n)) }
func (a *counterApp) Snapshot() ([]byte, error) {
	return fmt.Appendf(nil, "%d", a.n), nil
}
func (a *counterApp) Restore(b []byte) error {
	_, err := fmt.Sscanf(string(b), "%d", &a.n)
	return err
}

// cluster is a lossless, in-order test harness of n replicas and a client.
type cluster struct {
	t      *testing.T
	nodes  []*Node
	apps   []*counterApp
	client *Client
	inbox  []Outbound
	froms  []int
	result *Result
	stores []*testStore
	pubs   []ed25519.PublicKey
	hook   func(*Config) // adjusts every replica's config (nil: none)
}

// testStore applies Persist like a runtime's storage would.
type testStore struct {
	hard    HardState
	cp      *StableCheckpoint
	entries map[uint64]Entry
}

func (s *testStore) apply(p *Persist) {
	if p.Hard != nil {
		s.hard = *p.Hard
	}
	if p.Checkpoint != nil {
		s.cp = p.Checkpoint
		for seq := range s.entries {
			if seq <= p.Checkpoint.Seq {
				delete(s.entries, seq)
			}
		}
	}
	for _, e := range p.Entries {
		s.entries[e.Seq] = e
	}
}

func (s *testStore) load() *Persisted {
	p := &Persisted{Hard: s.hard, Checkpoint: s.cp}
	for seq := uint64(0); seq < 1<<12; seq++ {
		if e, ok := s.entries[seq]; ok {
			p.Entries = append(p.Entries, e)
		}
	}
	return p
}

func (c *cluster) config(i int, app Application) Config {
	cfg := Config{Domain: testDomain, ID: uint32(i), Key: testKey("replica", i), Replicas: c.pubs, App: app,
		CheckpointInterval: 4, MaxBatch: 2}
	if c.hook != nil {
		c.hook(&cfg)
	}
	return cfg
}

func newCluster(t *testing.T, n int) *cluster { return newClusterWith(t, n, nil) }

// newClusterWith is newCluster with hook adjusting every replica's config.
func newClusterWith(t *testing.T, n int, hook func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, hook: hook}
	var pubs []ed25519.PublicKey
	for i := range n {
		pubs = append(pubs, testKey("replica", i).Public().(ed25519.PublicKey))
	}
	c.pubs = pubs
	for i := range n {
		app := &counterApp{}
		node, err := New(c.config(i, app))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
		c.apps = append(c.apps, app)
		c.stores = append(c.stores, &testStore{entries: map[uint64]Entry{}})
	}
	cl, err := NewClient(ClientConfig{Domain: testDomain, Key: testKey("client", 0), Replicas: pubs}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.client = cl
	return c
}

func (c *cluster) collect(from int, n *Node) {
	if n.HasReady() {
		rd := n.Ready()
		if from >= 0 && from < len(c.stores) {
			c.stores[from].apply(&rd.Persist)
		}
		for _, ob := range rd.Messages {
			c.inbox = append(c.inbox, ob)
			c.froms = append(c.froms, from)
		}
		n.Advance()
	}
	for _, ob := range n.Ahead() {
		c.inbox = append(c.inbox, ob)
		c.froms = append(c.froms, from)
	}
}

// run delivers messages (through the codec) until quiet; down replicas
// get nothing.
func (c *cluster) run(down map[int]bool) {
	c.runDropping(func(_, to int, _ Message) bool { return to >= 0 && down[to] })
}

func (c *cluster) tick(down map[int]bool) {
	for i, n := range c.nodes {
		if !down[i] {
			n.Tick()
		}
	}
	for _, ob := range c.client.Tick() {
		c.inbox = append(c.inbox, ob)
		c.froms = append(c.froms, -1)
	}
	c.run(down)
}

// queue submits op and queues its messages; the caller drives.
func (c *cluster) queue(op string) {
	c.t.Helper()
	c.result = nil
	_, out, err := c.client.Submit([]byte(op))
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ob := range out {
		c.inbox = append(c.inbox, ob)
		c.froms = append(c.froms, -1)
	}
}

// submit sends op and drives the cluster until the client has a result.
func (c *cluster) submit(op string, down map[int]bool) *Result {
	c.t.Helper()
	_, out, err := c.client.Submit([]byte(op))
	if err != nil {
		c.t.Fatal(err)
	}
	return c.drive(op, out, down)
}

// drive delivers out and runs the cluster until the client has a result.
func (c *cluster) drive(op string, out []Outbound, down map[int]bool) *Result {
	c.t.Helper()
	c.result = nil
	for _, ob := range out {
		c.inbox = append(c.inbox, ob)
		c.froms = append(c.froms, -1)
	}
	for range 2000 {
		c.tick(down)
		if c.result != nil {
			return c.result
		}
	}
	c.t.Fatalf("%s: no result", op)
	return nil
}

// dropFunc says whether the message m from replica from (-1: the client)
// to replica to (-1: the client) is lost.
type dropFunc func(from, to int, m Message) bool

// runDropping is cluster.run with a lossy network: it delivers until
// quiet, dropping what drop says.
func (c *cluster) runDropping(drop dropFunc) {
	for i, n := range c.nodes {
		c.collect(i, n)
	}
	for steps := 0; len(c.inbox) > 0; steps++ {
		if steps > 100000 {
			c.t.Fatal("no quiescence")
		}
		ob, from := c.inbox[0], c.froms[0]
		c.inbox, c.froms = c.inbox[1:], c.froms[1:]
		m, err := Decode(Encode(ob.Msg))
		if err != nil {
			c.t.Fatal(err)
		}
		deliver := func(to int) {
			if !drop(from, to, m) {
				_ = c.nodes[to].Step(m)
				c.collect(to, c.nodes[to])
			}
		}
		switch {
		case ob.To.ToClient:
			if drop(from, -1, m) {
				continue
			}
			if res, _ := c.client.Step(m); res != nil {
				c.result = res
			}
		case ob.To.Broadcast:
			for i := range c.nodes {
				if i != from {
					deliver(i)
				}
			}
		default:
			deliver(int(ob.To.Replica))
		}
	}
}

// tickDropping ticks every replica and the client once, then delivers.
func (c *cluster) tickDropping(drop dropFunc) {
	for _, n := range c.nodes {
		n.Tick()
	}
	for _, ob := range c.client.Tick() {
		c.inbox = append(c.inbox, ob)
		c.froms = append(c.froms, -1)
	}
	c.runDropping(drop)
}

func isKind[T Message](m Message) bool { _, ok := m.(T); return ok }

func (c *cluster) allExecuted(seq uint64) bool {
	for _, n := range c.nodes {
		if n.LastExecuted() < seq {
			return false
		}
	}
	return true
}

func (c *cluster) allInView(v uint64) bool {
	for _, n := range c.nodes {
		if view, active := n.View(); view != v || !active {
			return false
		}
	}
	return true
}

func (c *cluster) allStable(seq uint64) bool {
	for _, n := range c.nodes {
		if s, _ := n.StableCheckpoint(); s < seq {
			return false
		}
	}
	return true
}
