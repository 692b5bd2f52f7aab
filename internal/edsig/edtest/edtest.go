// Package edtest holds ed25519 edge cases for the tests of signature
// rules: the encodings on which implementations of ed25519 are known to
// disagree.
package edtest

import (
	"encoding/hex"
	"fmt"
	"math/big"

	"filippo.io/edwards25519"
)

// SmallOrderKey is the encoding of a point of order 8: a key nobody has a
// secret for, under which RFC 8032's cofactorless check and a batch's
// cofactored one disagree.
const SmallOrderKey = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"

// groupOrder is ed25519's prime group order L.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// SmallOrderEncodings returns every encoding that decodes to a point of
// small order: the 8 points' canonical ones and the 6 others (y + p for
// y < 19, or the sign bit set on x = 0), 14 in all, as in ZIP 215.
func SmallOrderEncodings() ([][32]byte, error) {
	keyBytes, _ := hex.DecodeString(SmallOrderKey)
	p8, err := new(edwards25519.Point).SetBytes(keyBytes)
	if err != nil {
		return nil, fmt.Errorf("the small-order key: %w", err)
	}
	var candidates [][32]byte
	q := edwards25519.NewIdentityPoint()
	for range 8 {
		candidates = append(candidates, [32]byte(q.Bytes()))
		q.Add(q, p8)
	}
	for y := range byte(19) { // y + p, p = 2^255 - 19, little-endian
		var enc [32]byte
		enc[0] = 0xed + y
		for i := 1; i < 31; i++ {
			enc[i] = 0xff
		}
		enc[31] = 0x7f
		candidates = append(candidates, enc)
	}
	for _, c := range candidates { // the range is over the slice as it was
		c[31] |= 0x80 // the other sign of x
		candidates = append(candidates, c)
	}
	seen := map[[32]byte]bool{}
	var out [][32]byte
	for _, c := range candidates {
		p, err := new(edwards25519.Point).SetBytes(c[:])
		if err != nil || seen[c] || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	if len(out) != 14 {
		return nil, fmt.Errorf("%d encodings of small-order points, want 14", len(out))
	}
	return out, nil
}

// NonCanonicalS returns sig with S replaced by S+L: the same scalar, a
// second encoding of it, which RFC 8032 and ZIP 215 both refuse (they
// require S < L, so nobody can make a second signature from a first).
func NonCanonicalS(sig [64]byte) [64]byte {
	le := sig[32:]
	be := make([]byte, 32)
	for i := range 32 {
		be[i] = le[31-i]
	}
	s := new(big.Int).Add(new(big.Int).SetBytes(be), groupOrder)
	s.FillBytes(be)
	for i := range 32 {
		sig[32+i] = be[31-i]
	}
	return sig
}
