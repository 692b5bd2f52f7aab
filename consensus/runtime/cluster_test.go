package runtime

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/transport"
	"github.com/x402/x402/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is an in-process shard on 127.0.0.1.
type cluster struct {
	t      testing.TB
	domain pbft.Domain
	keys   []ed25519.PrivateKey
	pubs   []ed25519.PublicKey
	addrs  []string
	dir    string
	apps   []*counterApp
	reps   []*Replica
	opts   clusterOpts
}

type clusterOpts struct {
	n          int
	tick       time.Duration
	impairment transport.Impairment
	tune       func(*pbft.Config)
	// app, if set, makes replica i's application around its counterApp.
	app func(i int, a *counterApp) pbft.Application
}

func testLogger() *slog.Logger {
	if os.Getenv("PBFT_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func genKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	if o.n == 0 {
		o.n = 4
	}
	c := &cluster{t: t, domain: pbft.Domain{ChainID: "x402-test", Shard: 1}, dir: t.TempDir(), opts: o,
		apps: make([]*counterApp, o.n), reps: make([]*Replica, o.n)}
	pcs := make([]net.PacketConn, o.n)
	for i := range o.n {
		k := genKey(t)
		c.keys = append(c.keys, k)
		c.pubs = append(c.pubs, k.Public().(ed25519.PublicKey))
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pcs[i] = pc
		c.addrs = append(c.addrs, pc.LocalAddr().String())
	}
	t.Cleanup(c.close)
	for i := range o.n {
		if err := c.startWith(i, pcs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *cluster) config(i int, pc net.PacketConn) ReplicaConfig {
	c.apps[i] = newCounterApp()
	nc := pbft.Config{Domain: c.domain, ID: uint32(i), Key: c.keys[i], Replicas: c.pubs, App: c.apps[i]}
	if c.opts.app != nil {
		nc.App = c.opts.app(i, c.apps[i])
	}
	if c.opts.tune != nil {
		c.opts.tune(&nc)
	}
	return ReplicaConfig{Node: nc, Listen: c.addrs[i], PacketConn: pc, Peers: c.addrs,
		StatePath: c.statePath(i), TickInterval: c.opts.tick, Impairment: c.opts.impairment,
		Logger: testLogger().With("test", c.t.Name())}
}

func (c *cluster) statePath(i int) string {
	return filepath.Join(c.dir, fmt.Sprintf("replica-%d", i), "state.db")
}

func (c *cluster) startWith(i int, pc net.PacketConn) error {
	r, err := Start(c.config(i, pc))
	if err != nil {
		return err
	}
	c.reps[i] = r
	return nil
}

// restart starts replica i again on its address from its state file, with
// a fresh application (as a restarted process would).
func (c *cluster) restart(i int) {
	c.t.Helper()
	if err := c.startWith(i, nil); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) stop(i int) {
	c.t.Helper()
	if err := c.reps[i].Close(); err != nil {
		c.t.Fatal(err)
	}
	c.reps[i] = nil
}

func (c *cluster) close() {
	for i, r := range c.reps {
		if r != nil {
			_ = r.Close()
			c.reps[i] = nil
		}
	}
}

func (c *cluster) client(t testing.TB, identities int) *Client {
	t.Helper()
	cl, err := Dial(ClientConfig{Domain: c.domain, Replicas: c.pubs, Addrs: c.addrs, Identities: identities,
		TickInterval: c.opts.tick, Impairment: c.opts.impairment, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.EventuallyWithin(t, d, what, cond)
}

// converged reports whether every running replica executed the same
// sequence and holds the same application state, at least min executed.
func (c *cluster) converged(minApplied uint64) bool {
	var seq uint64
	var digest [32]byte
	first := true
	for i, r := range c.reps {
		if r == nil {
			continue
		}
		st, d := r.Status(), c.apps[i].Digest()
		if c.apps[i].total() < minApplied {
			return false
		}
		if first {
			seq, digest, first = st.LastExecuted, d, false
			continue
		}
		if st.LastExecuted != seq || d != digest {
			return false
		}
	}
	return true
}

func (c *cluster) describe() string {
	s := ""
	for i, r := range c.reps {
		if r == nil {
			s += fmt.Sprintf("[%d down] ", i)
			continue
		}
		st := r.Status()
		d := c.apps[i].Digest()
		s += fmt.Sprintf("[%d view %d active %v exec %d stable %d applied %d digest %x transfers %d saves %d/%v] ", i, st.View, st.Active,
			st.LastExecuted, st.StableSeq, c.apps[i].total(), d[:4], st.Metrics.StateTransfers, st.Saves, st.SaveTime.Round(time.Millisecond))
	}
	return s
}

// submitAll submits ops from par goroutines and returns the first error.
func submitAll(ctx context.Context, cl *Client, ops []string, par int, done func()) error {
	errs := make(chan error, len(ops))
	next := make(chan string)
	for range par {
		go func() {
			for op := range next {
				_, err := cl.Submit(ctx, []byte(op))
				errs <- err
				if done != nil && err == nil {
					done()
				}
			}
		}()
	}
	for _, op := range ops {
		next <- op
	}
	close(next)
	var first error
	for range ops {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
