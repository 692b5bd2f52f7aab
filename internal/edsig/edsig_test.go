package edsig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/x402/x402/internal/edsig/edtest"
)

// testKey returns the key pair of seed byte b.
func testKey(b byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// agrees fails t unless Key.Verify says of (pub, msg, sig) what
// ed25519.Verify says, and returns that answer.
func agrees(t testing.TB, pub ed25519.PublicKey, msg, sig []byte) bool {
	t.Helper()
	k, err := Expand(pub)
	if err != nil {
		t.Fatal(err)
	}
	want := ed25519.Verify(pub, msg, sig)
	if got := k.Verify(msg, sig); got != want {
		t.Fatalf("key %x, message %x, signature %x: Verify says %v, crypto/ed25519 %v", pub, msg, sig, got, want)
	}
	return want
}

func TestSignIsCryptoEd25519s(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		_, priv := testKey(byte(i))
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		if got, want := Sign(priv, msg), ed25519.Sign(priv, msg); !bytes.Equal(got, want) {
			t.Fatalf("key %d, message of %d bytes: signature %x, crypto/ed25519 gives %x", i, len(msg), got, want)
		}
	}
}

// TestVerifyAgreesWithCryptoEd25519 tries good signatures, every single
// bit flipped in one, S + L, and the signatures and keys where rules
// differ: small-order R and keys, non-canonical encodings, bytes that are
// no point.
func TestVerifyAgreesWithCryptoEd25519(t *testing.T) {
	pub, priv := testKey(7)
	msg := []byte("x402/pbft/v1 a prepare")
	sig := Sign(priv, msg)
	if !agrees(t, pub, msg, sig) {
		t.Fatal("a good signature does not verify")
	}
	for bit := range 8 * len(sig) {
		bad := bytes.Clone(sig)
		bad[bit/8] ^= 1 << (bit % 8)
		if agrees(t, pub, msg, bad) {
			t.Fatalf("bit %d flipped: still verifies", bit)
		}
	}
	if agrees(t, pub, msg[1:], sig) || agrees(t, pub, msg, sig[:63]) {
		t.Fatal("another message, or a short signature, verifies")
	}
	if s := edtest.NonCanonicalS([64]byte(sig)); agrees(t, pub, msg, s[:]) {
		t.Fatal("S + L verifies")
	}

	encs, err := edtest.SmallOrderEncodings()
	if err != nil {
		t.Fatal(err)
	}
	noPoint, _ := hex.DecodeString("0200000000000000000000000000000000000000000000000000000000000000") // y = 2 has no x
	keys := append([][32]byte{[32]byte(pub), [32]byte(noPoint)}, encs...)
	accepted := 0
	for _, a := range keys {
		for _, r := range encs {
			for nonce := range 4 {
				m := fmt.Appendf(nil, "message %d", nonce)
				var s [64]byte
				copy(s[:32], r[:]) // S = 0
				if agrees(t, a[:], m, s[:]) {
					accepted++
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no small-order case verified: the cases do not reach the rules' differences")
	}
	if _, err := Expand(pub[:31]); err == nil {
		t.Fatal("a 31-byte key expanded")
	}
}

// FuzzVerifyAgreesWithCryptoEd25519: for any key, message and signature
// bytes, Key.Verify answers as ed25519.Verify does.
func FuzzVerifyAgreesWithCryptoEd25519(f *testing.F) {
	pub, priv := testKey(9)
	msg := []byte("a checkpoint")
	f.Add([]byte(pub), msg, Sign(priv, msg))
	small, _ := hex.DecodeString(edtest.SmallOrderKey)
	f.Add(small, msg, make([]byte, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			if _, err := Expand(pub); err == nil {
				t.Fatalf("a key of %d bytes expanded", len(pub))
			}
			return
		}
		agrees(t, pub, msg, sig)
	})
}

func BenchmarkSign(b *testing.B) {
	_, priv := testKey(3)
	msg := make([]byte, 160)
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
	b.Run("edsig", func(b *testing.B) {
		for b.Loop() {
			Sign(priv, msg)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	pub, priv := testKey(3)
	msg := make([]byte, 160)
	sig := Sign(priv, msg)
	k, _ := Expand(pub)
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("edsig-expanded", func(b *testing.B) {
		for b.Loop() {
			k.Verify(msg, sig)
		}
	})
}
