package ledger

import (
	"crypto/ed25519"
	"testing"

	"github.com/x402/x402/pay"
)

func accounts(t *testing.T, n int) []pay.Account {
	t.Helper()
	out := make([]pay.Account, n)
	for i := range out {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pay.Account(pub)
	}
	return out
}

// TestKeyCacheKeepsItsKeysWhenFull: a full cache turns new senders away
// (nil: check with the plain key) instead of evicting the keys it holds,
// and turns over only after keyCacheTurnover times its size of them; a key
// still in use then moves to the new generation.
func TestKeyCacheKeepsItsKeysWhenFull(t *testing.T) {
	const size = 4
	c := newKeyCacheOf(size)
	held := accounts(t, size)
	first := make(map[pay.Account]any)
	for _, a := range held {
		k := c.get(a)
		if k == nil {
			t.Fatal("a cache with room turned a sender away")
		}
		first[a] = k
	}
	others := accounts(t, keyCacheTurnover*size)
	for i, a := range others[:len(others)-1] {
		if c.get(a) != nil {
			t.Fatalf("new sender %d expanded into a full cache", i)
		}
		if a := held[i%size]; c.get(a) != first[a] {
			t.Fatalf("after %d new senders, a held key was expanded again", i+1)
		}
	}
	last := others[len(others)-1]
	if c.get(last) == nil {
		t.Fatalf("after %d senders turned away, a new one is still turned away", len(others)-1)
	}
	if len(c.cur) != 1 || len(c.old) != size {
		t.Fatalf("after the turnover: %d keys current, %d older, want 1 and %d", len(c.cur), len(c.old), size)
	}
	if c.get(held[0]) != first[held[0]] || len(c.cur) != 2 || len(c.old) != size-1 {
		t.Fatal("a key of the older generation in use did not move to the current one")
	}
}

func TestKeyCacheWithoutAKey(t *testing.T) {
	var none *keyCache
	if none.get(accounts(t, 1)[0]) != nil {
		t.Fatal("a nil cache returned a key")
	}
	var notAPoint pay.Account
	notAPoint[0] = 2 // y = 2 is on no Edwards curve point
	c := newKeyCache()
	if c.get(notAPoint) != nil || len(c.cur) != 0 {
		t.Fatal("a non-point key was expanded or kept")
	}
}
