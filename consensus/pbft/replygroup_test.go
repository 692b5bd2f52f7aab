package pbft

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// signedBatchReplies returns the k replies a replica signs together for
// one batch.
func signedBatchReplies(t testing.TB, k int, tentative bool) []*Reply {
	t.Helper()
	n := &Node{cfg: Config{ID: 2, Key: testKey("replica", 2)}, d: testDomain, view: 7}
	n.out.dirty = map[uint64]uint64{}
	items := make([]replyItem, k)
	for i := range items {
		items[i] = replyItem{client: ClientID{byte(i), byte(i >> 8)}, ts: uint64(1000 + i), result: fmt.Appendf(nil, "result %d", i*i)}
	}
	replies := make([]*Reply, k)
	for i, o := range n.signReplies(items, tentative) {
		replies[i] = o.Msg.(*Reply)
	}
	return replies
}

// TestReplyGroupsRebuildEveryReply: any subset of a batch's replies (in
// index order) encodes as one group and decodes into the very replies the
// replica signed, proofs included, each verifying on its own; the more of
// the tree a group holds, the fewer proof hashes it carries.
func TestReplyGroupsRebuildEveryReply(t *testing.T) {
	pub := testKey("replica", 2).Public().(ed25519.PublicKey)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 2, 3, 5, 8, 70, 256} {
		all := signedBatchReplies(t, k, k%2 == 0)
		for trial := range 20 {
			var group []*Reply
			for _, r := range all {
				if trial == 0 || rng.IntN(3) == 0 {
					group = append(group, r)
				}
			}
			if len(group) == 0 {
				group = all[k-1:]
			}
			b, err := EncodeReplyGroup(group)
			if err != nil {
				t.Fatalf("%d of %d replies: %v", len(group), k, err)
			}
			got, err := DecodeReplyGroup(b)
			if err != nil {
				t.Fatalf("%d of %d replies: %v", len(group), k, err)
			}
			if !reflect.DeepEqual(got, group) {
				t.Fatalf("%d of %d replies: decoded %+v, want %+v", len(group), k, got[0], group[0])
			}
			for i, r := range got {
				if !verify(testDomain, ed25519.Verify, pub, r) {
					t.Fatalf("reply %d of a group of %d (batch of %d) does not verify", i, len(group), k)
				}
			}
			if trial == 0 {
				single := 0
				for _, r := range group {
					single += len(Encode(r))
				}
				if k > 2 && len(b)*2 > single {
					t.Fatalf("a whole batch of %d replies takes %d bytes as a group, against %d one by one", k, len(b), single)
				}
			}
		}
	}
}

// TestReplyGroupEncoderRefusesMixedReplies: replies under different
// signatures, views or depths, or out of index order, are not one group.
func TestReplyGroupEncoderRefusesMixedReplies(t *testing.T) {
	a, b := signedBatchReplies(t, 4, false), signedBatchReplies(t, 4, true)
	for name, group := range map[string][]*Reply{
		"none":               nil,
		"two signatures":     {a[0], b[1]},
		"out of order":       {a[2], a[1]},
		"twice":              {a[1], a[1]},
		"another proof size": {a[0], signedBatchReplies(t, 8, false)[5]},
	} {
		if _, err := EncodeReplyGroup(group); !errors.Is(err, ErrNotGroupable) {
			t.Errorf("%s: %v, want ErrNotGroupable", name, err)
		}
	}
}

// TestReplyGroupDecoderRejectsNonCanonicalInput: the decoder takes only
// what the encoder writes: indices in order and within the depth, exactly
// the proof nodes the indices need, nothing after them.
func TestReplyGroupDecoderRejectsNonCanonicalInput(t *testing.T) {
	replies := signedBatchReplies(t, 8, false)
	good, err := EncodeReplyGroup([]*Reply{replies[1], replies[6]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeReplyGroup(good); err != nil {
		t.Fatal(err)
	}
	// Header: kind 1, view 8, replica 4, tentative 1, depth 1, signature 64.
	const depthAt, countAt = 1 + 8 + 4 + 1, 1 + 8 + 4 + 1 + 1 + 64
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	one := len(replies[1].Client) + 8 + 4 + len(replies[1].Result) + 4
	nodesAt := countAt + 4 + one + len(replies[6].Client) + 8 + 4 + len(replies[6].Result) + 4
	for name, b := range map[string][]byte{
		"empty":         {},
		"a reply":       Encode(replies[0]),
		"trailing byte": append(append([]byte(nil), good...), 0),
		"truncated":     good[:len(good)-1],
		"tentative 2":   mutate(func(b []byte) []byte { b[depthAt-1] = 2; return b }),
		"depth 2":       mutate(func(b []byte) []byte { b[depthAt] = 2; return b }),
		"depth 14":      mutate(func(b []byte) []byte { b[depthAt] = MaxReplyProof + 1; return b }),
		"no replies":    mutate(func(b []byte) []byte { b[countAt+3] = 0; return b }),
		"index order": mutate(func(b []byte) []byte {
			b[countAt+4+one-1] = 7 // the first reply's index after the second's
			return b
		}),
		"a node short": mutate(func(b []byte) []byte {
			b[nodesAt+3]--
			return b[:len(b)-len(Digest{})]
		}),
		"a node more": mutate(func(b []byte) []byte {
			b[nodesAt+3]++
			return append(b, make([]byte, len(Digest{}))...)
		}),
	} {
		if _, err := DecodeReplyGroup(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// sampleReplyGroups returns reply groups of every shape: one reply, a
// whole batch, scattered replies of a bigger one.
func sampleReplyGroups(t testing.TB) [][]byte {
	var out [][]byte
	for _, g := range [][]*Reply{
		signedBatchReplies(t, 1, false),
		signedBatchReplies(t, 5, true),
		func() []*Reply { r := signedBatchReplies(t, 40, false); return []*Reply{r[3], r[17], r[18], r[39]} }(),
	} {
		b, err := EncodeReplyGroup(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeReplyGroup: no input makes the reply group decoder panic, and
// what it accepts re-encodes to exactly the same bytes (one encoding per
// group).
func FuzzDecodeReplyGroup(f *testing.F) {
	for _, b := range sampleReplyGroups(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		replies, err := DecodeReplyGroup(b)
		if err != nil {
			return
		}
		again, err := EncodeReplyGroup(replies)
		if err != nil {
			t.Fatalf("decoded group does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("reply group re-encodes differently")
		}
	})
}
