package pbft

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

// selfAuth is an application's authenticator for tests: an op is
// "authentic" for (client, timestamp) when it names both, standing in for
// a transaction signed by the client's key that covers its nonce.
type selfAuth struct {
	calls atomic.Uint64
}

func authOp(client ClientID, ts uint64, what string) []byte {
	return fmt.Appendf(nil, "%x@%d:%s", client[:4], ts, what)
}

func (a *selfAuth) authenticate(client [32]byte, ts uint64, op []byte) bool {
	a.calls.Add(1)
	return bytes.HasPrefix(op, fmt.Appendf(nil, "%x@%d:", client[:4], ts))
}

// countingVerify counts the signature checks made by key.
type countingVerify struct {
	by map[string]*atomic.Uint64
}

func (v *countingVerify) verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if c := v.by[string(pub)]; c != nil {
		c.Add(1)
	}
	return ed25519.Verify(pub, msg, sig)
}

func TestUnsignedRequestsAreAuthenticatedByTheApplicationAlone(t *testing.T) {
	account := ClientID(testKey("account", 0).Public().(ed25519.PublicKey))
	auth := &selfAuth{}
	checks := &countingVerify{by: map[string]*atomic.Uint64{string(account[:]): {}}}
	c := newClusterWith(t, 4, func(cfg *Config) {
		cfg.Authenticate = auth.authenticate
		cfg.Verify = checks.verify
	})
	for ts := uint64(1); ts <= 6; ts++ {
		out, err := c.client.SubmitUnsigned(UnsignedRequest(account, ts, authOp(account, ts, "pay")), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 4 {
			t.Fatalf("an unsigned request went to %d replicas, want every one", len(out))
		}
		res := c.drive("unsigned", out, nil)
		if want := fmt.Sprint(ts); string(res.Value) != want || res.Timestamp != ts {
			t.Fatalf("ts %d: result %q at %d, want %q", ts, res.Value, res.Timestamp, want)
		}
	}
	for i, n := range c.nodes {
		if c.apps[i].n != 6 || n.Metrics().BadSignature != 0 {
			t.Fatalf("replica %d applied %d, %d bad signatures", i, c.apps[i].n, n.Metrics().BadSignature)
		}
	}
	// No signature of the account was ever checked: the application's
	// word was the only authentication, asked at every replica.
	if n := checks.by[string(account[:])].Load(); n != 0 {
		t.Fatalf("%d signature checks of the unsigned requests' client", n)
	}
	if auth.calls.Load() < 6*4 {
		t.Fatalf("the application authenticated %d times for 6 requests at 4 replicas", auth.calls.Load())
	}

	// A replay of the last request gets the cached reply, not a second
	// execution; an older one is answered "will never execute" (empty).
	for ts, want := range map[uint64]string{6: "6", 3: ""} {
		if err := c.nodes[2].Step(UnsignedRequest(account, ts, authOp(account, ts, "pay"))); err != nil {
			t.Fatal(err)
		}
		rd := c.nodes[2].Ready()
		c.nodes[2].Advance()
		if len(rd.Messages) != 1 || string(rd.Messages[0].Msg.(*Reply).Result) != want || rd.Messages[0].Msg.(*Reply).Timestamp != ts {
			t.Fatalf("replay at %d answered %+v, want %q", ts, rd.Messages, want)
		}
	}
	if c.apps[2].n != 6 {
		t.Fatal("a replayed unsigned request re-executed")
	}
}

func TestForgedUnsignedRequestsAreRejectedAndCounted(t *testing.T) {
	account := ClientID(testKey("account", 0).Public().(ed25519.PublicKey))
	auth := &selfAuth{}
	c := newClusterWith(t, 4, func(cfg *Config) { cfg.Authenticate = auth.authenticate })
	c.submit("warm-up", nil)
	for _, q := range []*Request{
		UnsignedRequest(account, 7, authOp(account, 8, "pay")),                            // op for another timestamp
		UnsignedRequest(account, 7, authOp(ClientID{1}, 7, "pay")),                        // op of another client
		UnsignedRequest(account, 7, []byte("no signature of anyone")),                     // not self-authenticating
		{Client: account, Timestamp: 7, Op: authOp(account, 7, "pay"), Sig: Signature{1}}, // signed, badly: not taken on the app's word
	} {
		before := c.nodes[1].Metrics().BadSignature
		if err := c.nodes[1].Step(q); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged request %q: %v", q.Op, err)
		}
		if c.nodes[1].Metrics().BadSignature != before+1 {
			t.Fatalf("forged request %q not counted", q.Op)
		}
	}

	// A Byzantine primary cannot slip a forged request of the account into
	// a batch: backups refuse the pre-prepare and count it.
	forged := UnsignedRequest(account, 1<<40, authOp(account, 1, "pay"))
	batch := []*Request{forged}
	pp := &PrePrepare{View: 0, Seq: c.nodes[1].LastExecuted() + 1, Digest: testDomain.BatchDigest(batch), Replica: 0, Batch: batch}
	Sign(testDomain, testKey("replica", 0), pp)
	for i := 1; i < 4; i++ {
		before := c.nodes[i].Metrics().BadSignature
		if err := c.nodes[i].Step(pp); err == nil {
			t.Fatalf("replica %d accepted a pre-prepare with a forged request", i)
		}
		if c.nodes[i].Metrics().BadSignature != before+1 {
			t.Fatalf("replica %d did not count the forged request", i)
		}
	}
	c.run(nil)
	for i := range c.nodes {
		if c.apps[i].n != 1 {
			t.Fatalf("replica %d applied %d", i, c.apps[i].n)
		}
	}

	// Without an authenticator, unsigned requests are simply bad.
	plain := newCluster(t, 4)
	if err := plain.nodes[0].Step(UnsignedRequest(account, 1, authOp(account, 1, "pay"))); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unsigned request without an authenticator: %v", err)
	}
	// And a client refuses to send a signed request as unsigned.
	q := &Request{Client: account, Timestamp: 1, Sig: Signature{1}}
	if _, err := c.client.SubmitUnsigned(q, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("signed request submitted as unsigned: %v", err)
	}
}

// TestUnsignedRequestsAreForwardedToThePrimary: a backup that receives an
// unsigned request from its client forwards it to the primary, as a signed
// one, and again when it comes again: a client that believes in an older
// view's primary sends it to a backup (the primary alone would otherwise
// never hear of it, and the backup's timer would change the view).
func TestUnsignedRequestsAreForwardedToThePrimary(t *testing.T) {
	account := ClientID(testKey("account", 0).Public().(ed25519.PublicKey))
	auth := &selfAuth{}
	c := newClusterWith(t, 4, func(cfg *Config) { cfg.Authenticate = auth.authenticate })
	q := UnsignedRequest(account, 1, authOp(account, 1, "pay"))
	forwards := func() int {
		k := 0
		if c.nodes[1].HasReady() {
			rd := c.nodes[1].Ready()
			c.nodes[1].Advance()
			for _, o := range rd.Messages {
				if _, ok := o.Msg.(*Request); ok && o.To.Replica == 0 && !o.To.Broadcast && !o.To.ToClient {
					k++
				}
			}
		}
		return k
	}
	for i, want := range []int{1, 1} {
		if err := c.nodes[1].Step(q); err != nil {
			t.Fatal(err)
		}
		if got := forwards(); got != want {
			t.Fatalf("receipt %d: forwarded %d times, want %d", i+1, got, want)
		}
	}
}

// TestUnsignedRequestGoesWhereItsRouteIsUnknown: SubmitUnsigned addresses
// the believed primary and every replica not known to route the client's
// replies; the backups that did not hear it take it from the pre-prepare,
// and all reply. On timeout it goes to every replica.
func TestUnsignedRequestGoesWhereItsRouteIsUnknown(t *testing.T) {
	account := ClientID(testKey("account", 0).Public().(ed25519.PublicKey))
	c := newClusterWith(t, 4, func(cfg *Config) { cfg.Authenticate = (&selfAuth{}).authenticate })
	to := func(out []Outbound) []uint32 {
		var ids []uint32
		for _, o := range out {
			ids = append(ids, o.To.Replica)
		}
		return ids
	}
	for ts, tc := range []struct {
		known []bool
		want  string
	}{
		{nil, "[0 1 2 3]"},
		{[]bool{true, true, true, true}, "[0]"},
		{[]bool{true, false, true, true}, "[0 1]"},
		{[]bool{false, true, true}, "[0 3]"}, // a shorter list leaves the rest unknown
	} {
		q := UnsignedRequest(account, uint64(ts+1), authOp(account, uint64(ts+1), "pay"))
		out, err := c.client.SubmitUnsigned(q, tc.known)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(to(out)); got != tc.want {
			t.Fatalf("known %v: sent to %s, want %s", tc.known, got, tc.want)
		}
		if res := c.drive("unsigned", out, nil); string(res.Value) != fmt.Sprint(ts+1) {
			t.Fatalf("known %v: result %q", tc.known, res.Value)
		}
	}
	for i := range c.nodes {
		if c.apps[i].n != 4 {
			t.Fatalf("replica %d applied %d requests, want 4", i, c.apps[i].n)
		}
	}

	q := UnsignedRequest(account, 9, authOp(account, 9, "pay"))
	if _, err := c.client.SubmitUnsigned(q, []bool{true, true, true, true}); err != nil {
		t.Fatal(err)
	}
	var out []Outbound
	for range DefaultRetransmitTimeout {
		out = c.client.Tick()
	}
	if got := fmt.Sprint(to(out)); got != "[0 1 2 3]" {
		t.Fatalf("on timeout the request went to %s, want every replica", got)
	}
}

// TestVouchedRequestsAreNotAuthenticatedAgain: a request the runtime
// already had the application vouch for (Vouched) is not asked about again,
// the others are; and no decoded request is vouched.
func TestVouchedRequestsAreNotAuthenticatedAgain(t *testing.T) {
	account := ClientID(testKey("account", 0).Public().(ed25519.PublicKey))
	auth := &selfAuth{}
	c := newClusterWith(t, 4, func(cfg *Config) { cfg.Authenticate = auth.authenticate })
	primary := c.nodes[0]
	vouched := UnsignedRequest(account, 1, []byte("not an op the application would accept"))
	vouched.Vouched = true
	if err := primary.Propose(vouched); err != nil {
		t.Fatalf("a vouched request: %v", err)
	}
	if n := auth.calls.Load(); n != 0 {
		t.Fatalf("the application was asked %d times about a vouched request", n)
	}
	if err := primary.Propose(UnsignedRequest(account, 2, authOp(account, 2, "pay"))); err != nil {
		t.Fatal(err)
	}
	if n := auth.calls.Load(); n != 1 {
		t.Fatalf("the application was asked %d times about a request not vouched for, want 1", n)
	}
	m, err := Decode(Encode(vouched))
	if err != nil {
		t.Fatal(err)
	}
	if m.(*Request).Vouched {
		t.Fatal("a decoded request is vouched for")
	}
}
