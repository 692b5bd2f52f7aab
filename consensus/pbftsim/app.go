package pbftsim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/x402/x402/internal/wire"
)

// App is the simulator's deterministic state machine: it counts how often
// each operation was applied and chains a SHA-256 over everything applied,
// so any divergence in order or content shows in its digest.
type App struct {
	seq    uint64
	chain  [32]byte
	counts map[string]uint64
}

// NewApp returns an App in its genesis state.
func NewApp() *App { return &App{counts: map[string]uint64{}} }

// Apply implements pbft.Application.
func (a *App) Apply(seq uint64, txs [][]byte) [][]byte {
	a.seq = seq
	out := make([][]byte, len(txs))
	for i, tx := range txs {
		a.counts[string(tx)]++
		h := sha256.New()
		h.Write(a.chain[:])
		h.Write(binary.BigEndian.AppendUint64(nil, seq))
		h.Write(tx)
		h.Sum(a.chain[:0])
		out[i] = []byte(strconv.FormatUint(a.counts[string(tx)], 10) + ":" + fmt.Sprintf("%x", a.chain[:6]))
	}
	return out
}

// Count returns how often op was applied.
func (a *App) Count(op string) uint64 { return a.counts[op] }

// Digest implements pbft.Application.
func (a *App) Digest() [32]byte {
	b, _ := a.Snapshot()
	return sha256.Sum256(b)
}

// Snapshot implements pbft.Application: the canonical encoding of the state.
func (a *App) Snapshot() ([]byte, error) {
	keys := make([]string, 0, len(a.counts))
	for k := range a.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w := wire.NewWriter(64 + 32*len(keys)).U64(a.seq).Fixed(a.chain[:]).U32(uint32(len(keys)))
	for _, k := range keys {
		w.String(k).U64(a.counts[k])
	}
	return w.Bytes(), nil
}

// Restore implements pbft.Application.
func (a *App) Restore(b []byte) error {
	r := wire.NewReader(b)
	seq := r.U64()
	var chain [32]byte
	r.Fixed(chain[:])
	n := r.U32()
	counts := map[string]uint64{}
	for i := uint32(0); i < n && r.Err() == nil; i++ {
		k := r.String(1 << 16)
		counts[k] = r.U64()
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("restore app: %w", err)
	}
	a.seq, a.chain, a.counts = seq, chain, counts
	return nil
}
