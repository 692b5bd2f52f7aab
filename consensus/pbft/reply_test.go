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
