package pbft

import (
	"errors"
	"fmt"

	"github.com/x402/x402/internal/wire"
)

// A reply group is the wire form of several replies that one signature
// covers (see Reply): the replies a replica sends down one client
// connection for one batch. The view, replica, tentative flag, proof
// depth and signature are written once, and of the Merkle proofs only the
// nodes the group's own leaves cannot rebuild: a connection that gets
// every reply of a batch gets no proof hashes at all. Decoding rebuilds
// every reply whole, proof included, so a decoded reply is exactly the
// message its replica signed and stays a transferable receipt on its own.
//
// Encoding: KindReplyGroup, view (u64), replica (u32), tentative (u8),
// depth (u8), signature, then the replies (u32 count; each client, u64
// timestamp, var result, u32 index, in increasing index order), then the
// proof nodes (u32 count; each a digest) in the order rebuilding needs
// them: level by level from the leaves, left to right.

// ErrNotGroupable is returned by EncodeReplyGroup for replies that do not
// share one signature's tree.
var ErrNotGroupable = errors.New("pbft: replies are not one signature's group")

// MaxReplyGroup bounds the replies of one group: a tree of
// 2^MaxReplyProof leaves.
const MaxReplyGroup = 1 << MaxReplyProof

// Groupable reports whether b can follow a in one reply group: same view,
// replica, tentative flag, proof depth and signature, and a higher index.
func Groupable(a, b *Reply) bool {
	return a.View == b.View && a.Replica == b.Replica && a.Tentative == b.Tentative &&
		len(a.Proof) == len(b.Proof) && a.Sig == b.Sig && a.Index < b.Index
}

// EncodeReplyGroup encodes replies, which must be one signature's
// (Groupable, in increasing index order), as one reply group.
func EncodeReplyGroup(replies []*Reply) ([]byte, error) {
	if len(replies) == 0 || len(replies) > MaxReplyGroup {
		return nil, fmt.Errorf("%w: %d replies", ErrNotGroupable, len(replies))
	}
	first := replies[0]
	size := 1 + 8 + 4 + 1 + 1 + len(first.Sig) + 4 + 4
	for i, m := range replies {
		if i > 0 && !Groupable(replies[i-1], m) {
			return nil, fmt.Errorf("%w: reply %d of %d", ErrNotGroupable, i, len(replies))
		}
		size += len(m.Client) + 8 + 4 + len(m.Result) + 4
	}
	depth := len(first.Proof)
	nodes := groupProofNodes(replies, depth)
	w := wire.NewWriter(size + len(nodes)*len(Digest{})).U8(uint8(KindReplyGroup))
	w.U64(first.View).U32(first.Replica).U8(boolByte(first.Tentative)).U8(uint8(depth)).Fixed(first.Sig[:])
	w.U32(uint32(len(replies)))
	for _, m := range replies {
		w.Fixed(m.Client[:]).U64(m.Timestamp).Var(m.Result).U32(m.Index)
	}
	w.U32(uint32(len(nodes)))
	for _, d := range nodes {
		w.Fixed(d[:])
	}
	return w.Bytes(), nil
}

// groupProofNodes returns the proof nodes a group's leaves cannot rebuild,
// in rebuilding order. At each level the group's nodes are the ancestors
// of its leaves; a node's sibling outside them comes from the proof of any
// reply under that node.
func groupProofNodes(replies []*Reply, depth int) []Digest {
	var nodes []Digest
	under := make([]int, len(replies)) // for each node of the level, a reply under it
	keys := make([]uint32, len(replies))
	for i, m := range replies {
		under[i], keys[i] = i, m.Index
	}
	for level := 0; level < depth; level++ {
		k := 0
		for i := 0; i < len(keys); i++ {
			key := keys[i]
			if key&1 == 0 && i+1 < len(keys) && keys[i+1] == key|1 {
				i++ // both children are the group's
			} else {
				nodes = append(nodes, replies[under[i]].Proof[level])
			}
			keys[k], under[k] = key>>1, under[i]
			k++
		}
		keys, under = keys[:k], under[:k]
	}
	return nodes
}

// DecodeReplyGroup parses a reply group and rebuilds its replies, proofs
// included. Like Decode it rejects truncated input, oversized fields and
// trailing bytes, and also indices out of order or beyond the depth and a
// proof node count other than the one the indices need; it does not check
// the signature. The replies keep nothing of b.
func DecodeReplyGroup(b []byte) ([]*Reply, error) {
	replies, err := readReplyGroup(wire.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: reply group: %w", ErrMalformed, err)
	}
	return replies, nil
}

func readReplyGroup(r *wire.Reader) ([]*Reply, error) {
	if k := Kind(r.U8()); r.Err() == nil && k != KindReplyGroup {
		return nil, fmt.Errorf("kind %v is not a reply group", k)
	}
	var h Reply
	h.View, h.Replica = r.U64(), r.U32()
	switch t := r.U8(); t {
	case 0, 1:
		h.Tentative = t == 1
	default:
		r.Fail(fmt.Errorf("tentative flag %d is not 0 or 1", t))
	}
	depth := int(r.U8())
	if r.Err() == nil && depth > MaxReplyProof {
		r.Fail(fmt.Errorf("proof of %d hashes exceeds %d", depth, MaxReplyProof))
	}
	readSig(r, &h.Sig)
	n := count(r, min(MaxReplyGroup, 1<<depth), "replies")
	if r.Err() == nil && n == 0 {
		r.Fail(errors.New("no replies"))
	}
	replies := make([]*Reply, n)
	all := make([]Reply, n) // every reply in one allocation
	for i := range replies {
		m := &all[i]
		m.View, m.Replica, m.Tentative, m.Sig = h.View, h.Replica, h.Tentative, h.Sig
		r.Fixed(m.Client[:])
		m.Timestamp = r.U64()
		m.Result = r.Var(MaxResultBytes)
		m.Index = r.U32()
		if r.Err() != nil {
			break
		}
		if uint64(m.Index)>>depth != 0 {
			r.Fail(fmt.Errorf("reply index %d beyond a proof of %d hashes", m.Index, depth))
		} else if i > 0 && m.Index <= all[i-1].Index {
			r.Fail(fmt.Errorf("reply index %d after %d", m.Index, all[i-1].Index))
		}
		replies[i] = m
	}
	nodes := make([]Digest, count(r, n*depth, "proof nodes"))
	for i := range nodes {
		r.Fixed(nodes[i][:])
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	if depth > 0 {
		if err := rebuildProofs(replies, depth, nodes); err != nil {
			return nil, err
		}
	}
	return replies, nil
}

// rebuildProofs gives every reply its proof from the group's leaves and
// the proof nodes, which must be exactly the ones groupProofNodes writes.
// Level by level it pairs the group's nodes (with a proof node where a
// sibling is not the group's), hashes each pair into the next level and
// hands every reply the sibling on its path.
func rebuildProofs(replies []*Reply, depth int, nodes []Digest) error {
	n := len(replies)
	proofs := make([]Digest, n*depth) // every proof's hashes, in one allocation
	keys := make([]uint32, n)         // the level's nodes, left to right
	hashes := make([]Digest, n)
	sib := make([]Digest, n) // each node's sibling
	parent := make([]int, n) // each node's place in the next level
	pos := make([]int, n)    // each reply's node in the level
	var buf []byte
	for i, m := range replies {
		m.Proof = proofs[i*depth : (i+1)*depth : (i+1)*depth]
		keys[i], pos[i] = m.Index, i
		hashes[i], buf = m.leafInto(buf[:0])
	}
	used := 0
	for level := 0; level < depth; level++ {
		k := 0 // writes stay at or behind the node being read
		for i := 0; i < len(keys); i++ {
			key, h := keys[i], hashes[i]
			var left, right Digest
			switch {
			case key&1 == 0 && i+1 < len(keys) && keys[i+1] == key|1:
				left, right = h, hashes[i+1]
				sib[i], sib[i+1], parent[i], parent[i+1] = right, left, k, k
				i++
			case used == len(nodes):
				return fmt.Errorf("%d proof nodes, fewer than the indices need", len(nodes))
			default:
				if key&1 == 0 {
					left, right = h, nodes[used]
				} else {
					left, right = nodes[used], h
				}
				sib[i], parent[i] = nodes[used], k
				used++
			}
			keys[k], hashes[k] = key>>1, replyNode(left, right)
			k++
		}
		for j, m := range replies {
			m.Proof[level] = sib[pos[j]]
			pos[j] = parent[pos[j]]
		}
		keys, hashes = keys[:k], hashes[:k]
	}
	if used != len(nodes) {
		return fmt.Errorf("%d proof nodes, more than the %d the indices need", len(nodes), used)
	}
	return nil
}
