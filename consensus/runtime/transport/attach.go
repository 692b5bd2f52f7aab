package transport

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/internal/wire"
)

// attachContext starts the payload an identity signs to let a connection
// carry its requests and replies.
const attachContext = "x402/pbft-attach/v1"

const attachVersion = 1

// MaxAttach bounds the client identities one stream may carry.
const MaxAttach = 4096

// attachEntrySize is the encoded size of one attached identity.
const attachEntrySize = ed25519.PublicKeySize + ed25519.SignatureSize

// maxAttachFrame bounds an attach frame.
const maxAttachFrame = 8 + MaxAttach*attachEntrySize

// ErrAttach is returned (wrapped) for an attach frame that does not decode
// or whose signatures do not verify.
var ErrAttach = errors.New("transport: bad attach frame")

// attachPayload is what an identity signs: the shard's domain (chain and
// shard id), the replica and the connection's own key, so the attachment
// is good for that connection to that shard only (the connection's key is
// proven by its TLS handshake) and cannot be replayed by anyone else to
// divert the identity's replies.
func attachPayload(d pbft.Domain, replica, conn ed25519.PublicKey) []byte {
	return wire.NewWriter(128).String(attachContext).String(d.ChainID).U32(d.Shard).Fixed(replica).Fixed(conn).Bytes()
}

// encodeAttach is the first frame of a client stream from conn to replica:
// every identity in keys with its signature.
func encodeAttach(d pbft.Domain, keys []ed25519.PrivateKey, replica, conn ed25519.PublicKey) ([]byte, error) {
	if len(keys) == 0 || len(keys) > MaxAttach {
		return nil, fmt.Errorf("%w: %d identities (1 to %d)", ErrAttach, len(keys), MaxAttach)
	}
	msg := attachPayload(d, replica, conn)
	w := wire.NewWriter(8 + len(keys)*attachEntrySize).U8(attachVersion).U32(uint32(len(keys)))
	for _, k := range keys {
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: identity key of %d bytes", ErrAttach, len(k))
		}
		w.Fixed(k.Public().(ed25519.PublicKey)).Fixed(ed25519.Sign(k, msg))
	}
	return w.Bytes(), nil
}

// decodeAttach returns the identities of an attach frame, all of whose
// signatures must verify for this shard, replica and connection.
func decodeAttach(d pbft.Domain, b []byte, replica, conn ed25519.PublicKey) ([]pbft.ClientID, error) {
	r := wire.NewReader(b)
	if v := r.U8(); r.Err() == nil && v != attachVersion {
		return nil, fmt.Errorf("%w: version %d", ErrAttach, v)
	}
	n := r.U32()
	if r.Err() == nil && (n == 0 || n > MaxAttach) {
		return nil, fmt.Errorf("%w: %d identities", ErrAttach, n)
	}
	type entry struct {
		id  pbft.ClientID
		sig [ed25519.SignatureSize]byte
	}
	entries := make([]entry, 0, min(n, MaxAttach))
	for i := uint32(0); i < n && r.Err() == nil; i++ {
		var e entry
		r.Fixed(e.id[:])
		r.Fixed(e.sig[:])
		entries = append(entries, e)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAttach, err)
	}
	msg := attachPayload(d, replica, conn)
	ids := make([]pbft.ClientID, len(entries))
	for i, e := range entries {
		if !ed25519.Verify(ed25519.PublicKey(e.id[:]), msg, e.sig[:]) {
			return nil, fmt.Errorf("%w: identity %x: bad signature", ErrAttach, e.id[:4])
		}
		ids[i] = e.id
	}
	return ids, nil
}
