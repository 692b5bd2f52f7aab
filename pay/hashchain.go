package pay

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// MaxChainLength bounds a hash chain committed in one voucher, and so the
// hashing the ledger does to check a redeemed preimage.
const MaxChainLength = 1 << 16

// HashChain is a PayWord chain: w[n] is random, w[i] = SHA-256(w[i+1]) and
// the root w[0] is committed in a voucher. Revealing w[k] is worth k ticks;
// a seller checks each new preimage with one SHA-256 against the last.
type HashChain struct {
	w [][32]byte
}

// NewHashChain makes a chain of n ticks.
func NewHashChain(n int) (*HashChain, error) {
	if n < 1 || n > MaxChainLength {
		return nil, fmt.Errorf("hash chain length %d: want 1..%d", n, MaxChainLength)
	}
	w := make([][32]byte, n+1)
	if _, err := rand.Read(w[n][:]); err != nil {
		return nil, fmt.Errorf("hash chain seed: %w", err)
	}
	for i := n - 1; i >= 0; i-- {
		w[i] = sha256.Sum256(w[i+1][:])
	}
	return &HashChain{w: w}, nil
}

// Len is the number of ticks.
func (c *HashChain) Len() int { return len(c.w) - 1 }

// Root is w[0].
func (c *HashChain) Root() [32]byte { return c.w[0] }

// Preimage returns w[k], worth k ticks (0 <= k <= Len).
func (c *HashChain) Preimage(k int) [32]byte { return c.w[k] }

// VerifyNextTick reports whether next is the preimage that follows prev.
func VerifyNextTick(prev, next [32]byte) bool {
	h := sha256.Sum256(next[:])
	return subtle.ConstantTimeCompare(h[:], prev[:]) == 1
}

// ErrChainMismatch is returned when a preimage does not hash to the root.
var ErrChainMismatch = errors.New("preimage does not hash to the committed root")

// VerifyPreimage checks that hashing preimage k times gives root, for
// 1 <= k <= length <= MaxChainLength.
func VerifyPreimage(root, preimage [32]byte, k, length uint32) error {
	if k == 0 || k > length || length > MaxChainLength {
		return fmt.Errorf("tick %d outside the committed chain of %d (max %d)", k, length, MaxChainLength)
	}
	h := preimage
	for range k {
		h = sha256.Sum256(h[:])
	}
	if subtle.ConstantTimeCompare(h[:], root[:]) != 1 {
		return ErrChainMismatch
	}
	return nil
}

// HashForward hashes preimage n times: from w[k] it gives w[k-n], so a
// holder of a newer preimage can redeem any earlier tick of the same chain.
func HashForward(preimage [32]byte, n uint32) [32]byte {
	for range n {
		preimage = sha256.Sum256(preimage[:])
	}
	return preimage
}
