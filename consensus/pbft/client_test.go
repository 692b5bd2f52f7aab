package pbft

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func testClient(t *testing.T) (*Client, []ed25519.PrivateKey) {
	t.Helper()
	var keys []ed25519.PrivateKey
	var pubs []ed25519.PublicKey
	for i := range 4 {
		keys = append(keys, testKey("replica", i))
		pubs = append(pubs, keys[i].Public().(ed25519.PublicKey))
	}
	c, err := NewClient(ClientConfig{Domain: testDomain, Key: testKey("client", 0), Replicas: pubs}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return c, keys
}

// TestClientStepAuthenticated: a reply read from the channel authenticated
// as its sender is taken without its signature, one claiming another
// sender is still verified, and f+1 matching replies decide.
func TestClientStepAuthenticated(t *testing.T) {
	c, keys := testClient(t)
	q, _, err := c.Submit([]byte("op"))
	if err != nil {
		t.Fatal(err)
	}
	reply := func(r uint32, signed bool) *Reply {
		m := &Reply{View: 0, Timestamp: q.Timestamp, Client: c.ID(), Replica: r, Result: []byte("ok")}
		if signed {
			Sign(testDomain, keys[r], m)
		}
		return m
	}
	// Replica 2's unsigned reply arriving on replica 1's channel: verified, rejected.
	if _, err := c.StepAuthenticated(1, reply(2, false)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged reply on another replica's channel: err %v, want ErrBadSignature", err)
	}
	// Through Step, an unsigned reply is rejected even from its own replica.
	if _, err := c.Step(reply(1, false)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unsigned reply through Step: err %v, want ErrBadSignature", err)
	}
	res, err := c.StepAuthenticated(1, reply(1, false))
	if err != nil || res != nil {
		t.Fatalf("first authenticated reply: %v, %v", res, err)
	}
	res, err = c.StepAuthenticated(3, reply(3, false))
	if err != nil || res == nil || string(res.Value) != "ok" {
		t.Fatalf("f+1 authenticated replies: %v, %v", res, err)
	}
}

// TestClientTicksToRetransmit: the client says how long it may sleep
// before its next retransmission, which then doubles.
func TestClientTicksToRetransmit(t *testing.T) {
	c, _ := testClient(t)
	c.SetRetransmitTimeout(3)
	if got := c.TicksToRetransmit(); got != 0 {
		t.Fatalf("idle: %d", got)
	}
	if _, _, err := c.Submit([]byte("op")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{3, 2, 1} {
		if got := c.TicksToRetransmit(); got != want {
			t.Fatalf("%d ticks to retransmit, want %d", got, want)
		}
		if out := c.Tick(); want > 1 && out != nil {
			t.Fatalf("retransmitted %d ticks early", want-1)
		} else if want == 1 && len(out) != 4 {
			t.Fatalf("retransmission to %d replicas, want 4", len(out))
		}
	}
	if got := c.TicksToRetransmit(); got != 6 {
		t.Fatalf("after a retransmission: %d ticks, want 6 (doubled)", got)
	}
}

// TestClientAcceptsTentativeRepliesFromAQuorumOfOneView: 2f+1 matching
// replies, each committed or tentative in one view, decide; f+1 tentative
// ones do not, nor do 2f+1 tentative ones spread over views.
func TestClientAcceptsTentativeRepliesFromAQuorumOfOneView(t *testing.T) {
	type reply struct {
		replica   uint32
		view      uint64
		tentative bool
	}
	for _, tc := range []struct {
		name    string
		replies []reply
		accept  bool
	}{
		{"three tentative, one view", []reply{{0, 1, true}, {1, 1, true}, {2, 1, true}}, true},
		{"two tentative", []reply{{0, 1, true}, {1, 1, true}}, false},
		{"three tentative, two views", []reply{{0, 1, true}, {1, 1, true}, {2, 2, true}}, false},
		{"two tentative and a committed one", []reply{{0, 1, true}, {1, 1, true}, {2, 0, false}}, true},
		{"two committed", []reply{{0, 1, false}, {3, 0, false}}, true},
		{"a committed one taken back by a tentative one", []reply{{0, 1, false}, {0, 2, true}, {3, 0, false}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, keys := testClient(t)
			q, _, err := c.Submit([]byte("op"))
			if err != nil {
				t.Fatal(err)
			}
			var res *Result
			for i, r := range tc.replies {
				if res != nil {
					t.Fatalf("accepted after %d replies", i)
				}
				m := &Reply{View: r.view, Timestamp: q.Timestamp, Client: c.ID(), Replica: r.replica,
					Tentative: r.tentative, Result: []byte("ok")}
				Sign(testDomain, keys[r.replica], m)
				if res, err = c.Step(m); err != nil {
					t.Fatal(err)
				}
			}
			if got := res != nil; got != tc.accept {
				t.Fatalf("accepted %v, want %v", got, tc.accept)
			}
		})
	}
}

func TestLearnViewMovesThePrimaryForward(t *testing.T) {
	c := newCluster(t, 4)
	cl := c.client
	if p := cl.Primary(); p != 0 {
		t.Fatalf("primary %d before any result, want 0", p)
	}
	cl.LearnView(5)
	if p := cl.Primary(); p != 1 {
		t.Fatalf("primary %d after view 5 of 4 replicas, want 1", p)
	}
	_, out, err := cl.Submit([]byte("op"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].To.Replica != 1 {
		t.Fatalf("a request after view 5 went to %+v, want replica 1 alone", out)
	}
	cl.LearnView(2) // an older view changes nothing
	if p := cl.Primary(); p != 1 {
		t.Fatalf("primary %d after an older view, want 1", p)
	}
}
