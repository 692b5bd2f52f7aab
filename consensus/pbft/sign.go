package pbft

import (
	"crypto/ed25519"
	"crypto/sha256"

	"github.com/x402/x402/internal/edsig"
	"github.com/x402/x402/internal/wire"
)

// Context is the fixed context string that starts every signed payload and
// every hash of this package, so no signature or digest of another protocol
// (or protocol version) is ever valid here.
const Context = "x402/pbft/v1"

// Domain separates one shard's signatures from every other shard's: a
// signature covers Context, the chain id, the shard id and the message kind.
type Domain struct {
	ChainID string
	Shard   uint32
}

// VerifyFunc checks an ed25519 signature. It is ed25519.Verify unless a
// runtime or simulator substitutes a memoizing equivalent; it must be a
// pure function of its arguments.
type VerifyFunc func(pub ed25519.PublicKey, msg, sig []byte) bool

func (d Domain) prefix(w *wire.Writer, k Kind) *wire.Writer {
	return w.String(Context).String(d.ChainID).U32(d.Shard).U8(uint8(k))
}

// SignedBytes returns the exact bytes a signature on m covers in domain d.
func (d Domain) SignedBytes(m Message) []byte {
	w := d.prefix(wire.NewWriter(128), m.Kind())
	m.body(w)
	return w.Bytes()
}

// Sign sets m's signature with priv in domain d. The runtime never needs
// it (the Node and Client sign their own messages); tests use it to forge
// Byzantine messages.
func Sign(d Domain, priv ed25519.PrivateKey, m Message) {
	copy(m.sig()[:], edsig.Sign(priv, d.SignedBytes(m)))
}

func verify(d Domain, vf VerifyFunc, pub ed25519.PublicKey, m Message) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	s := m.sig()
	return vf(pub, d.SignedBytes(m), s[:])
}

// BatchDigest is the digest a pre-prepare assigns to batch; the empty batch
// is the null request of a new-view.
func (d Domain) BatchDigest(batch []*Request) Digest {
	// The hash of the prefix and writeBatch's bytes, written a request at
	// a time through one small buffer rather than the whole batch at once.
	h := sha256.New()
	w := wire.NewWriter(4096 + 512).String(Context + "/batch").String(d.ChainID).U32(d.Shard).U32(uint32(len(batch)))
	for _, q := range batch {
		if len(w.Bytes()) >= 4096 {
			h.Write(w.Bytes())
			w = wire.Append(w.Bytes()[:0])
		}
		q.body(w)
		w.Fixed(q.Sig[:])
	}
	h.Write(w.Bytes())
	var digest Digest
	h.Sum(digest[:0])
	return digest
}

// StateDigest is the checkpoint digest of a replica's state: the
// application's digest and the exactly-once client table.
func (d Domain) StateDigest(app Digest, clients []ClientRecord) Digest {
	w := wire.NewWriter(128 + len(d.ChainID) + clientsSize(clients)).String(Context + "/state").String(d.ChainID).U32(d.Shard).Fixed(app[:])
	writeClients(w, clients)
	return sha256.Sum256(w.Bytes())
}
