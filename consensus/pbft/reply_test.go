package pbft

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
)

// TestBatchRepliesShareOneSignature: the replies to one executed batch
// carry one signature, and each still verifies on its own (a client, or
// anyone holding it as a receipt, needs no other reply); changing what a
// reply says, or its proof, breaks it.
func TestBatchRepliesShareOneSignature(t *testing.T) {
	pubs := []ed25519.PublicKey{testKey("replica", 0).Public().(ed25519.PublicKey)}
	for _, k := range []int{1, 2, 3, 5, 8, 70} {
		n := &Node{cfg: Config{ID: 0, Key: testKey("replica", 0)}, d: testDomain, view: 3}
		n.out.dirty = map[uint64]uint64{}
		var items []replyItem
		for i := range k {
			items = append(items, replyItem{client: ClientID{byte(i)}, ts: uint64(100 + i), result: fmt.Appendf(nil, "result %d", i)})
		}
		n.replyAll(items, false)
		if len(n.out.msgs) != k {
			t.Fatalf("%d replies for %d items", len(n.out.msgs), k)
		}
		for i, o := range n.out.msgs {
			r := o.Msg.(*Reply)
			if o.To.Client != items[i].client || r.Client != items[i].client || r.Timestamp != items[i].ts || r.View != 3 {
				t.Fatalf("reply %d of %d: %+v to %+v", i, k, r, o.To)
			}
			if r.Sig != n.out.msgs[0].Msg.(*Reply).Sig {
				t.Fatalf("reply %d of %d has its own signature", i, k)
			}
			m, err := Decode(Encode(r))
			if err != nil {
				t.Fatal(err)
			}
			if !verify(testDomain, ed25519.Verify, pubs[0], m) {
				t.Fatalf("reply %d of %d does not verify on its own", i, k)
			}
			bad := *r
			bad.Result = []byte("another result")
			if verify(testDomain, ed25519.Verify, pubs[0], &bad) {
				t.Fatalf("reply %d of %d verifies with another result", i, k)
			}
			if len(r.Proof) > 0 {
				bad = *r
				bad.Index ^= 1
				if verify(testDomain, ed25519.Verify, pubs[0], &bad) {
					t.Fatalf("reply %d of %d verifies at another index", i, k)
				}
			}
		}
	}
}

func TestReplyDecoderRejectsNonCanonicalProofs(t *testing.T) {
	r := &Reply{Client: ClientID{1}, Timestamp: 1, Result: []byte("x"), Index: 1, Proof: []Digest{{2}}}
	b := Encode(r)
	if _, err := Decode(b); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*Reply{
		"index beyond the proof": {Index: 2, Proof: []Digest{{2}}},
		"proof too long":         {Proof: make([]Digest, MaxReplyProof+1)},
	} {
		if _, err := Decode(Encode(m)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestRetransmissionsAreAnsweredUnderOneSignature: requests that already
// executed, retransmitted to a replica (as every client of an overloaded
// shard does when it times out), are answered from the client table with
// one signature for all of them per Ready, and each reply still verifies
// on its own and says the executed result in the replica's view.
func TestRetransmissionsAreAnsweredUnderOneSignature(t *testing.T) {
	c := newCluster(t, 4)
	const k = 6
	var reqs []*Request
	for i := range k {
		key := testKey("retransmitting client", i)
		q := &Request{Client: ClientID(key.Public().(ed25519.PublicKey)), Timestamp: 1, Op: fmt.Appendf(nil, "op %d", i)}
		Sign(testDomain, key, q)
		reqs = append(reqs, q)
		for _, n := range c.nodes {
			if err := n.Step(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range c.nodes {
		c.collect(i, n)
	}
	for range 200 {
		if c.allExecuted(k / 2) {
			break
		}
		c.tick(nil)
	}
	if !c.allExecuted(k / 2) {
		t.Fatal("the requests did not execute")
	}
	backup := c.nodes[1]
	c.collect(1, backup) // nothing else in its output
	if backup.HasReady() {
		t.Fatal("output left before the retransmissions")
	}
	for _, q := range reqs {
		if err := backup.Step(q); err != nil {
			t.Fatal(err)
		}
	}
	if !backup.HasReady() {
		t.Fatal("no output for the retransmissions")
	}
	rd := backup.Ready()
	var replies []*Reply
	for _, ob := range rd.Messages {
		if r, ok := ob.Msg.(*Reply); ok {
			replies = append(replies, r)
		}
	}
	if len(replies) != k {
		t.Fatalf("%d replies for %d retransmissions", len(replies), k)
	}
	for i, r := range replies {
		if r.Sig != replies[0].Sig {
			t.Fatalf("reply %d has its own signature: one per retransmission", i)
		}
		if r.Client != reqs[i].Client || r.Timestamp != 1 || r.Tentative || r.View != backup.view || string(r.Result) == "" {
			t.Fatalf("reply %d: %+v", i, r)
		}
		m, err := Decode(Encode(r))
		if err != nil {
			t.Fatal(err)
		}
		if !verify(testDomain, ed25519.Verify, c.pubs[1], m) {
			t.Fatalf("reply %d does not verify on its own", i)
		}
	}
}

// TestQueuedRepliesKeepTheirViewAndKind: replies from the client table
// are signed together only with those of the same view and kind, at most
// maxCachedGroup at a time, and each says the view it was made in.
func TestQueuedRepliesKeepTheirViewAndKind(t *testing.T) {
	n := &Node{cfg: Config{ID: 0, Key: testKey("replica", 0)}, d: testDomain, view: 3}
	item := func(i int) replyItem {
		return replyItem{client: ClientID{byte(i), byte(i >> 8)}, ts: 1, result: []byte("r")}
	}
	n.replyLater(item(0), false)
	n.replyLater(item(1), false)
	n.view = 4 // a view change before the output is collected
	n.replyLater(item(2), false)
	n.replyLater(item(3), true)
	for i := range maxCachedGroup + 1 {
		n.replyLater(item(4+i), true)
	}
	n.flushCached()
	if len(n.out.cached) != 0 || len(n.out.msgs) != 4+maxCachedGroup+1 {
		t.Fatalf("%d replies, %d groups left", len(n.out.msgs), len(n.out.cached))
	}
	reply := func(i int) *Reply { return n.out.msgs[i].Msg.(*Reply) }
	sigs := map[[64]byte]bool{}
	for i := range n.out.msgs {
		sigs[reply(i).Sig] = true
	}
	// {0,1} in view 3; {2} in view 4; {3..258} tentative; {259}: the group was full.
	if len(sigs) != 4 || reply(0).Sig != reply(1).Sig || reply(0).View != 3 || reply(2).View != 4 ||
		reply(2).Tentative || !reply(3).Tentative || reply(3).Sig != reply(3+maxCachedGroup-1).Sig ||
		reply(3+maxCachedGroup).Sig == reply(3).Sig {
		t.Fatalf("%d signatures; replies 0-3: %+v %+v %+v %+v", len(sigs), reply(0), reply(1), reply(2), reply(3))
	}
	pub := testKey("replica", 0).Public().(ed25519.PublicKey)
	for i := range n.out.msgs {
		if !verify(testDomain, ed25519.Verify, pub, reply(i)) {
			t.Fatalf("reply %d does not verify", i)
		}
	}
}
