package pbft

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"

	"github.com/x402/x402/internal/wire"
)

// Domain separation of the reply tree's hashes: a leaf can never be taken
// for an inner node or for any other hash of this package.
const (
	replyLeafContext = Context + "/reply-leaf"
	replyNodeContext = Context + "/reply-node"
)

// Leaf is the hash of what a reply says: which request (client and
// timestamp) had which result.
func (m *Reply) Leaf() Digest {
	d, _ := m.leafInto(make([]byte, 0, len(replyLeafContext)+4+len(m.Client)+8+4+len(m.Result)))
	return d
}

// leafInto is Leaf hashing its input in buf's memory, which it returns
// for the next leaf.
func (m *Reply) leafInto(buf []byte) (Digest, []byte) {
	b := wire.Append(buf).String(replyLeafContext).Fixed(m.Client[:]).U64(m.Timestamp).Var(m.Result).Bytes()
	return sha256.Sum256(b), b
}

func replyNode(left, right Digest) Digest {
	// As wire's String and Fixed would write it, in an array on the stack:
	// a batch hashes one node per reply.
	const at = 4 + len(replyNodeContext)
	var b [at + 2*len(Digest{})]byte
	binary.BigEndian.PutUint32(b[:], uint32(len(replyNodeContext)))
	copy(b[4:], replyNodeContext)
	copy(b[at:], left[:])
	copy(b[at+len(left):], right[:])
	return sha256.Sum256(b[:])
}

// Root is the root of the reply tree that m's leaf, Index and Proof lead
// to; the signature covers it. The tree of k replies has 2^len(Proof)
// leaves, the unused ones zero; bit i of Index says whether the node at
// level i is a right child.
func (m *Reply) Root() Digest {
	h := m.Leaf()
	for i, sib := range m.Proof {
		if m.Index>>i&1 == 0 {
			h = replyNode(h, sib)
		} else {
			h = replyNode(sib, h)
		}
	}
	return h
}

// replyProofs returns the Merkle proof of every leaf in the tree of
// leaves, padded with zero leaves to a power of two.
func replyProofs(leaves []Digest) [][]Digest {
	size := 1
	for size < len(leaves) {
		size *= 2
	}
	level := make([]Digest, size)
	copy(level, leaves)
	depth := bits.Len(uint(size)) - 1
	all := make([]Digest, len(leaves)*depth) // every proof's hashes, in one allocation
	proofs := make([][]Digest, len(leaves))
	for i := range proofs {
		proofs[i] = all[i*depth : i*depth : (i+1)*depth]
	}
	for ; len(level) > 1; level = nextLevel(level) {
		for i := range proofs {
			proofs[i] = append(proofs[i], level[(i>>len(proofs[i]))^1])
		}
	}
	return proofs
}

func nextLevel(level []Digest) []Digest {
	up := make([]Digest, len(level)/2)
	for i := range up {
		up[i] = replyNode(level[2*i], level[2*i+1])
	}
	return up
}

// replyItem is one reply to send.
type replyItem struct {
	client ClientID
	ts     uint64
	result []byte
}

// replyAll sends the replies of items under one signature (see Reply);
// tentative says they come from a batch that prepared and has not
// committed.
func (n *Node) replyAll(items []replyItem, tentative bool) {
	n.out.msgs = append(n.out.msgs, n.signReplies(items, tentative)...)
}

// replyAhead is replyAll for a batch run ahead of its commit: the
// tentative replies go to Ahead's caller, not through Ready.
func (n *Node) replyAhead(items []replyItem) {
	n.out.now = append(n.out.now, n.signReplies(items, true)...)
}

// maxCachedGroup bounds the replies from the client table signed
// together, so their proofs stay short.
const maxCachedGroup = 256

// cachedGroup is replies from the client table waiting to be signed
// together: all of one view and one kind (tentative or not).
type cachedGroup struct {
	view      uint64
	tentative bool
	items     []replyItem
}

// replyLater queues a reply from the client table; flushCached signs the
// queued ones together when the node's output is collected. A replica
// flooded with retransmissions (an overloaded shard's clients time out and
// ask every replica again) thus signs once per Ready, not once per
// retransmission; the reply says the view it was made in.
func (n *Node) replyLater(it replyItem, tentative bool) {
	o := &n.out
	if k := len(o.cached); k > 0 {
		g := &o.cached[k-1]
		if g.view == n.view && g.tentative == tentative && len(g.items) < maxCachedGroup {
			g.items = append(g.items, it)
			return
		}
	}
	o.cached = append(o.cached, cachedGroup{view: n.view, tentative: tentative, items: []replyItem{it}})
}

// flushCached signs the queued replies from the client table, one
// signature per group, into the output.
func (n *Node) flushCached() {
	o := &n.out
	for _, g := range o.cached {
		o.msgs = append(o.msgs, n.signRepliesIn(g.view, g.items, g.tentative)...)
	}
	o.cached = o.cached[:0]
}

// signReplies makes the replies of items, signed together.
func (n *Node) signReplies(items []replyItem, tentative bool) []Outbound {
	return n.signRepliesIn(n.view, items, tentative)
}

// signRepliesIn is signReplies for replies made in view.
func (n *Node) signRepliesIn(view uint64, items []replyItem, tentative bool) []Outbound {
	if len(items) == 0 {
		return nil
	}
	replies := make([]*Reply, len(items))
	leaves := make([]Digest, len(items))
	var buf []byte
	for i, it := range items {
		replies[i] = &Reply{View: view, Timestamp: it.ts, Client: it.client, Replica: n.cfg.ID, Tentative: tentative,
			Result: it.result, Index: uint32(i)}
		leaves[i], buf = replies[i].leafInto(buf[:0])
	}
	if len(items) > 1 {
		for i, p := range replyProofs(leaves) {
			replies[i].Proof = p
		}
	}
	n.sign(replies[0])
	out := make([]Outbound, len(replies))
	for i, r := range replies {
		r.Sig = replies[0].Sig
		out[i] = Outbound{To: Destination{ToClient: true, Client: r.Client}, Msg: r}
	}
	return out
}
