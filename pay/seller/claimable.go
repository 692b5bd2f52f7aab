package seller

import "github.com/x402/x402/pay"

// claimableAt is the part of b the seller redeems while the channel owes
// owed: buyers pay ahead (their prepayment window), and an honest seller
// claims only what was used, so a cooperative close can refund the rest.
// Ticks beyond owed are dropped (the preimage hashed forward to the last
// tick within owed); the voucher itself is never split, so a voucher worth
// more than owed is claimed whole.
func (b Best) claimableAt(owed pay.Amount) Best {
	if b.Value() <= owed {
		return b
	}
	if b.Voucher.Chain == nil || b.Voucher.Cumulative >= owed {
		b.Ticks, b.Preimage = 0, [32]byte{}
		return b
	}
	within := uint64(owed-b.Voucher.Cumulative) / uint64(b.Voucher.Chain.TickValue)
	keep := uint32(min(within, uint64(b.Ticks)))
	b.Preimage = pay.HashForward(b.Preimage, b.Ticks-keep)
	if b.Ticks = keep; keep == 0 {
		b.Preimage = [32]byte{}
	}
	return b
}

// claimable is what the seller redeems for channel c while it owes owed.
// A buyer that renews its voucher (its hash chain ran out) signs the new
// one for what it had paid, prepayment included, so the new voucher alone
// may be worth more than owed; until usage catches up the seller claims
// from the voucher it replaced.
func (c *channel) claimable(owed pay.Amount) Best {
	b := c.best.claimableAt(owed)
	if b.Value() > owed && c.best.Voucher.Chain != nil && c.prev.Voucher.Seq != 0 {
		b = c.prev.claimableAt(owed)
		b.Claimed = c.best.Claimed
	}
	return b
}

// newerThan reports whether b supersedes o: a newer voucher, or more ticks
// or claims on the same one. A newer voucher may be worth less: the final
// voucher of a cooperative close refunds what the buyer paid ahead.
func (b Best) newerThan(o Best) bool {
	switch {
	case b.Voucher.Seq != o.Voucher.Seq:
		return b.Voucher.Seq > o.Voucher.Seq
	case b.Ticks != o.Ticks:
		return b.Ticks > o.Ticks
	default:
		return b.Claimed > o.Claimed
	}
}
