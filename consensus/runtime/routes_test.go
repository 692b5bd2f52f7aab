package runtime

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/x402/x402/consensus/pbft"
)

// clientRequests returns how many requests each running replica took from
// client streams.
func (c *cluster) clientRequests() []uint64 {
	out := make([]uint64, len(c.reps))
	for i, r := range c.reps {
		if r != nil {
			out[i] = r.TransportMetrics().ClientRequests
		}
	}
	return out
}

// routedCluster starts a cluster whose application authenticates unsigned
// requests (batchAuthApp) and a connected client of it with identities
// that never retransmit (a retransmission goes to every replica, which
// would blur where requests went).
func routedCluster(t *testing.T, identities int) (*cluster, *Client) {
	t.Helper()
	c := newCluster(t, clusterOpts{app: func(_ int, a *counterApp) pbft.Application { return &batchAuthApp{counterApp: a} }})
	cl, err := Dial(ClientConfig{Domain: c.domain, Replicas: c.pubs, Addrs: c.addrs, Identities: identities,
		RetransmitAfter: time.Minute, MinRetransmitAfter: time.Minute, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	waitFor(t, 10*time.Second, "the client to connect", cl.Connected)
	return c, cl
}

// TestUnsignedRequestsGoToThePrimaryOnceRoutesAreKnown: an unsigned
// request of a client id goes to every replica the first time (each learns
// to route the id's replies to this client), then to the primary alone,
// to a replica again once the link to it reconnected, and to every replica
// while the link to the primary is down (its backups then change view at
// once); the backups' replies reach the client every time.
func TestUnsignedRequestsGoToThePrimaryOnceRoutesAreKnown(t *testing.T) {
	c, cl := routedCluster(t, 1)
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	submit := func(ts uint64) {
		t.Helper()
		res, err := cl.SubmitUnsigned(ctx, [32]byte(pub), ts, fmt.Appendf(nil, "ok/%d", ts))
		if err != nil || len(res) == 0 {
			t.Fatalf("request %d: result %q, err %v", ts, res, err)
		}
	}
	// A replica may read the client's copy after the result is in (it can
	// execute the batch first), so the counts are awaited; one that
	// overshoots never comes back.
	expect := func(what string, want ...uint64) {
		t.Helper()
		var got []uint64
		defer func() {
			if t.Failed() {
				t.Logf("%s: replicas took %v requests from the client", what, got)
			}
		}()
		waitFor(t, 10*time.Second, fmt.Sprintf("%s: replicas to take %v requests from the client", what, want), func() bool {
			got = c.clientRequests()
			return fmt.Sprint(got) == fmt.Sprint(want)
		})
	}

	submit(1)
	expect("first request", 1, 1, 1, 1)
	submit(2)
	expect("second request", 2, 1, 1, 1)

	before := cl.links[2].Connection()
	c.stop(2)
	c.restart(2)
	waitFor(t, 10*time.Second, "the link to replica 2 to reconnect", func() bool { return cl.links[2].Connection() > before })
	submit(3)
	expect("after replica 2 restarted", 3, 1, 1, 1)
	submit(4)
	expect("fourth request", 4, 1, 1, 1)

	c.stop(0)
	waitFor(t, 10*time.Second, "the link to the primary to go down", func() bool { return cl.links[0].Connection() == 0 })
	submit(5)
	expect("primary down", 0, 2, 2, 2)
	submit(6) // to replica 1, the primary of the new view, alone
	expect("new view", 0, 3, 2, 2)
	c.restart(0)
	waitFor(t, 10*time.Second, "replicas to converge", func() bool { return c.converged(6) })
}

// TestIdentitiesShareTheViewTheyLearn: after a view change, the identity
// whose request taught the client the new view teaches every other one, so
// their requests go to the new primary at once instead of to the old one
// (which would cost each a retransmission timeout, here a minute).
func TestIdentitiesShareTheViewTheyLearn(t *testing.T) {
	c, cl := routedCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c.stop(0)
	waitFor(t, 10*time.Second, "the link to the primary to go down", func() bool { return cl.links[0].Connection() == 0 })
	// An unsigned request goes to every replica while the primary's link
	// is down: the backups change view and execute it.
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := cl.SubmitUnsigned(ctx, [32]byte(pub), 1, []byte("ok/first")); err != nil || len(res) == 0 {
		t.Fatalf("unsigned request: result %q, err %v", res, err)
	}
	if v := cl.view.Load(); v == 0 {
		t.Fatal("the client learned no view from its result")
	}
	// Signed requests go to the believed primary alone: every identity's
	// must reach the new one, replica 1, whichever identity serves it.
	const n = 12
	for i := range n {
		if _, err := cl.Submit(ctx, fmt.Appendf(nil, "signed/%d", i)); err != nil {
			t.Fatalf("signed request %d: %v", i, err)
		}
	}
	waitFor(t, 10*time.Second, "replicas to count the client's requests", func() bool {
		return fmt.Sprint(c.clientRequests()) == fmt.Sprint([]uint64{0, 1 + n, 1, 1})
	})
	c.restart(0)
	waitFor(t, 10*time.Second, "replicas to converge", func() bool { return c.converged(1 + n) })
}
