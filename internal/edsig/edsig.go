// Package edsig signs and checks ed25519 signatures with the results of
// crypto/ed25519 (RFC 8032 signing; Go's cofactorless check), in about
// 0.6 times its time: signing uses curve25519-voi's precomputed tables, and
// a key checked again and again is decompressed and expanded once (Key).
// Consensus messages are signed and checked through it, payment messages
// signed; a shard's replicas must answer alike for any bytes, so the
// answers never differ from crypto/ed25519's (edsig_test.go compares them,
// also under fuzzing).
package edsig

import (
	"crypto/ed25519"
	"fmt"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// stdlib is crypto/ed25519's verification rule.
var stdlib = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// Sign returns ed25519.Sign(priv, msg): the same 64 bytes, faster. It
// panics, as ed25519.Sign does, when priv is not 64 bytes.
func Sign(priv ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(priv), msg)
}

// Key is a public key made ready for checking many signatures.
type Key struct {
	pub      ed25519.PublicKey
	expanded *voi.ExpandedPublicKey // nil when pub is no point: nothing verifies
}

// Expand prepares pub. It fails only when pub is not 32 bytes; a key that
// is no point's encoding is kept, and no signature verifies under it, as
// with ed25519.Verify.
func Expand(pub ed25519.PublicKey) (*Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	k := &Key{pub: pub}
	k.expanded, _ = voi.NewExpandedPublicKey(voi.PublicKey(pub))
	return k, nil
}

// Public returns the key's bytes.
func (k *Key) Public() ed25519.PublicKey { return k.pub }

// Verify returns ed25519.Verify(k.Public(), msg, sig).
func (k *Key) Verify(msg, sig []byte) bool {
	if k.expanded == nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyExpandedWithOptions(k.expanded, msg, sig, stdlib)
}
