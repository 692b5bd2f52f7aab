package ledger

import (
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/x402/x402/pay"
)

// keyCacheSize bounds each of the two generations of a ledger's cache of
// expanded public keys. An expanded key takes about 1.4 KB, so the cache
// holds at most about 3 MB, which a router's replica can spare.
const keyCacheSize = 1024

// keyCacheTurnover is how many senders, in keyCacheSizes, a full cache
// turns away before its generations turn over (see keyCache).
const keyCacheTurnover = 4

// keyCache holds the expanded form of the senders' public keys (the point
// decompressed, with its table of multiples), which a signature check
// otherwise computes from the 32 bytes every time: about a third of the
// cost of checking one signature in a batch. Senders sign again and again,
// so most checks find their key here. An account's key is a pure function
// of its bytes, so what the cache holds never depends on who asked first.
//
// A key found in the older generation moves to the current one while it
// has room. A new sender's key is expanded and kept while the current
// generation has room; once it is full, new senders are turned away (their
// check expands the key for itself and forgets it, as without the cache),
// and only after keyCacheTurnover times its size of them does the current
// generation become the older one. So a shard with more active senders
// than the cache holds keeps finding the keys it holds: a plain
// two-generation cache evicted and expanded again on nearly every check
// beyond about 1.5 times its size (BENCHMARKS.md).
type keyCache struct {
	mu         sync.Mutex
	size       int // of each generation
	cur, old   map[pay.Account]*voi.ExpandedPublicKey
	turnedAway int // new senders turned away since the last turnover

	// verifiers recycles batch verifiers: each holds a few hundred bytes
	// a signature, allocated and cleared anew for every batch otherwise.
	verifiers sync.Pool
}

func newKeyCache() *keyCache { return newKeyCacheOf(keyCacheSize) }

func newKeyCacheOf(size int) *keyCache {
	return &keyCache{size: size, cur: map[pay.Account]*voi.ExpandedPublicKey{}, old: map[pay.Account]*voi.ExpandedPublicKey{}}
}

// batchVerifier returns an empty batch verifier with room for about n
// signatures; putBatchVerifier gives it back for the next batch.
func (c *keyCache) batchVerifier(n int) *voi.BatchVerifier {
	if c != nil {
		if v, ok := c.verifiers.Get().(*voi.BatchVerifier); ok {
			return v.Reset()
		}
	}
	return voi.NewBatchVerifierWithCapacity(n)
}

// putBatchVerifier recycles v, which its caller no longer uses.
func (c *keyCache) putBatchVerifier(v *voi.BatchVerifier) {
	if c != nil {
		c.verifiers.Put(v)
	}
}

// get returns a's expanded key, or nil when c is nil, when the cache turns
// a away, or when its bytes are not a point's encoding: the caller then
// checks with the plain key, which rejects a non-point as the expanded
// check would.
func (c *keyCache) get(a pay.Account) *voi.ExpandedPublicKey {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if k, ok := c.cur[a]; ok {
		c.mu.Unlock()
		return k
	}
	if k, ok := c.old[a]; ok {
		if len(c.cur) < c.size {
			delete(c.old, a)
			c.cur[a] = k // still in use: keep it across the next turnover
		}
		c.mu.Unlock()
		return k
	}
	if len(c.cur) >= c.size {
		if c.turnedAway++; c.turnedAway < keyCacheTurnover*c.size {
			c.mu.Unlock()
			return nil
		}
		c.old, c.cur, c.turnedAway = c.cur, make(map[pay.Account]*voi.ExpandedPublicKey, c.size), 0
	}
	c.mu.Unlock()
	k, err := voi.NewExpandedPublicKey(voi.PublicKey(a[:]))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	if len(c.cur) < c.size {
		c.cur[a] = k
	}
	c.mu.Unlock()
	return k
}
