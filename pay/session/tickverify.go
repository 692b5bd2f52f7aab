package session

import (
	"sync"

	"github.com/x402/x402/pay"
)

// TickStats counts a session's tick datagrams.
type TickStats struct {
	Valid   uint64 // verified and newer than any before
	Stale   uint64 // for an older voucher, or at or below the proven index
	Invalid uint64 // undecodable, beyond the chain, or not hashing to it
}

// tickResult classifies one tick.
type tickResult int

const (
	tickValid tickResult = iota
	tickStale
	tickInvalid
)

// tickVerifier holds the seller's view of the current voucher's hash chain:
// the newest preimage proven and its index. Hashing happens outside the lock.
type tickVerifier struct {
	mu      sync.Mutex
	session uint32
	seq     uint64
	chain   *pay.ChainCommit // nil until a voucher with a chain is accepted
	index   uint32           // ticks proven on chain
	last    [32]byte         // preimage at index (the root at 0)
	stats   TickStats
}

// accept switches to the chain of a newly accepted voucher. Re-accepting the
// same voucher keeps the progress already proven.
func (v *tickVerifier) accept(vo pay.Voucher) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.chain != nil && vo.Chain != nil && vo.Seq == v.seq && *vo.Chain == *v.chain {
		return
	}
	v.seq = vo.Seq
	v.chain = nil
	v.index = 0
	if vo.Chain != nil {
		c := *vo.Chain
		v.chain = &c
		v.last = c.Root
	}
}

// invalid counts a datagram that did not decode.
func (v *tickVerifier) invalid() {
	v.mu.Lock()
	v.stats.Invalid++
	v.mu.Unlock()
}

// Stats returns the counters so far.
func (v *tickVerifier) Stats() TickStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stats
}

// check verifies t: the next index against the last preimage with one hash,
// a later index (earlier ticks lost) by hashing down to the last preimage,
// bounded by the chain's length.
func (v *tickVerifier) check(t tick) tickResult {
	v.mu.Lock()
	switch {
	case t.Session != v.session || t.Index == 0:
		v.stats.Invalid++
		v.mu.Unlock()
		return tickInvalid
	case v.chain == nil || t.VoucherSeq != v.seq || t.Index <= v.index:
		v.stats.Stale++
		v.mu.Unlock()
		return tickStale
	case t.Index > v.chain.Length:
		v.stats.Invalid++
		v.mu.Unlock()
		return tickInvalid
	}
	chain, base, baseIndex := v.chain, v.last, v.index
	v.mu.Unlock()

	var ok bool
	if t.Index == baseIndex+1 {
		ok = pay.VerifyNextTick(base, t.Preimage)
	} else {
		ok = pay.VerifyPreimage(base, t.Preimage, t.Index-baseIndex, chain.Length-baseIndex) == nil
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case !ok:
		v.stats.Invalid++
		return tickInvalid
	case v.chain != chain || t.Index <= v.index:
		v.stats.Stale++ // the voucher changed or a newer tick won meanwhile
		return tickStale
	}
	v.index, v.last = t.Index, t.Preimage
	v.stats.Valid++
	return tickValid
}
