package runtime

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/x402/x402/internal/wire"
)

// counterApp is the tests' replicated state machine: every operation names
// a counter and increments it; the result is the counter's new value. Its
// digest is a SHA-256 over the canonical snapshot.
type counterApp struct {
	mu      sync.Mutex
	counts  map[string]uint64
	applied uint64
}

func newCounterApp() *counterApp { return &counterApp{counts: map[string]uint64{}} }

func (a *counterApp) Apply(_ uint64, txs [][]byte) [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]byte, len(txs))
	for i, tx := range txs {
		a.counts[string(tx)]++
		a.applied++
		out[i] = []byte(strconv.FormatUint(a.counts[string(tx)], 10))
	}
	return out
}

func (a *counterApp) snapshotLocked() []byte {
	keys := slices.Sorted(maps.Keys(a.counts))
	w := wire.NewWriter(16 + 32*len(keys)).U64(a.applied).U32(uint32(len(keys)))
	for _, k := range keys {
		w.String(k).U64(a.counts[k])
	}
	return w.Bytes()
}

func (a *counterApp) Digest() [32]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sha256.Sum256(a.snapshotLocked())
}

func (a *counterApp) Snapshot() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snapshotLocked(), nil
}

func (a *counterApp) Restore(b []byte) error {
	r := wire.NewReader(b)
	applied := r.U64()
	n := r.U32()
	counts := map[string]uint64{}
	for i := uint32(0); i < n && r.Err() == nil; i++ {
		k := r.String(1 << 16)
		counts[k] = r.U64()
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("restore counters: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts, a.applied = counts, applied
	return nil
}

func (a *counterApp) count(k string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts[k]
}

func (a *counterApp) total() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}
