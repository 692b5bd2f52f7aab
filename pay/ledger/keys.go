package ledger

import (
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/x402/x402/pay"
)

// keyCacheSize bounds each of the two generations of a ledger's cache of
// expanded public keys. An expanded key takes about 1.5 KB, so the cache
// holds at most about 3 MB, which a router's replica can spare. A sender
// not in it costs what it did without the cache: the batch check expands
// its key anyway.
const keyCacheSize = 1024

// keyCache holds the expanded form of the senders' public keys (the point
// decompressed, with its table of multiples), which a signature check
// otherwise computes from the 32 bytes every time: about a third of the
// cost of checking one signature in a batch. Senders sign again and again,
// so most checks find their key here. An account's key is a pure function
// of its bytes, so what the cache holds never depends on who asked first.
type keyCache struct {
	mu       sync.Mutex
	cur, old map[pay.Account]*voi.ExpandedPublicKey
}

func newKeyCache() *keyCache {
	return &keyCache{cur: map[pay.Account]*voi.ExpandedPublicKey{}, old: map[pay.Account]*voi.ExpandedPublicKey{}}
}

// expanded returns a's expanded key, or nil when its bytes are not a
// point's encoding (no signature under it verifies).
func (c *keyCache) expanded(a pay.Account) *voi.ExpandedPublicKey {
	c.mu.Lock()
	k, ok := c.cur[a]
	if !ok {
		if k, ok = c.old[a]; ok {
			c.put(a, k) // still in use: keep it across the next turnover
		}
	}
	c.mu.Unlock()
	if ok {
		return k
	}
	k, err := voi.NewExpandedPublicKey(voi.PublicKey(a[:]))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.put(a, k)
	c.mu.Unlock()
	return k
}

// put stores k as a's; c.mu is held.
func (c *keyCache) put(a pay.Account, k *voi.ExpandedPublicKey) {
	if len(c.cur) >= keyCacheSize {
		c.old, c.cur = c.cur, make(map[pay.Account]*voi.ExpandedPublicKey, keyCacheSize)
	}
	c.cur[a] = k
}
