package buyer

import (
	"crypto/ed25519"
	"fmt"

	"github.com/x402/x402/pay"
)

// Limits are the buyer's own caps.
type Limits struct {
	MaxPricePerGiB pay.Amount // refuse a seller asking more
	MaxSpend       pay.Amount // never pay more in total (0: the deposit)
	// ToleranceBytes is how far a seller's byte count may run ahead of the
	// buyer's own before the buyer stops paying for the difference.
	// Default 64 KiB.
	ToleranceBytes uint64
	// PrepayBytes is how far ahead of the seller's bills the buyer pays, in
	// bytes at the seller's price. It bounds what the buyer can lose to a
	// seller that takes the money and stops relaying (a cooperative close
	// refunds it from an honest one), and it keeps the relay from stalling
	// on every payment round trip at the seller's credit window. 0 means
	// DefaultPrepayBytes; a negative value, no prepayment: the buyer pays
	// only what it was billed.
	PrepayBytes int64
}

// DefaultPrepayBytes is the default prepayment. It must cover the seller's
// statement interval (16 MiB by default) plus what the relay moves during
// one payment round trip (statement, tick datagram, the seller's fsync), or
// the seller pauses the relay at its credit window: 32 MiB leaves 16 MiB,
// about 13 ms at loopback speed on a busy machine or 160 ms at 100 MB/s,
// and is worth 0.016 USD at 0.50 USD/GiB.
const DefaultPrepayBytes = 32 << 20

// prepayBytes is the prepayment lim asks for, defaults applied.
func (lim Limits) prepayBytes() uint64 {
	switch {
	case lim.PrepayBytes == 0:
		return DefaultPrepayBytes
	case lim.PrepayBytes < 0:
		return 0
	}
	return uint64(lim.PrepayBytes)
}

// Payment is what to send the seller for a statement: a new voucher, the
// ticks of the current one up to TickIndex (with its preimage), both (a new
// voucher, then its first ticks), or nothing.
type Payment struct {
	Voucher    *pay.SignedVoucher
	VoucherSeq uint64
	TickIndex  uint32
	Preimage   [32]byte
}

// IsZero reports whether there is nothing to send.
func (p Payment) IsZero() bool { return p.Voucher == nil && p.TickIndex == 0 }

// Payer decides payments for one channel. It is not safe for concurrent use.
type Payer struct {
	domain  pay.Domain
	key     ed25519.PrivateKey
	channel pay.ChannelID
	deposit pay.Amount
	limits  Limits
	price   pay.Amount

	chainLen  int
	tickValue pay.Amount
	ahead     pay.Amount // the prepayment, at the seller's price

	voucher pay.SignedVoucher // newest sent (Seq 0: none yet)
	chain   *pay.HashChain
	ticks   uint32 // ticks of voucher sent so far
	billed  pay.Amount
}

// NewPayer starts paying channel (with deposit) at the seller's price,
// refusing a price above the buyer's cap. Ticks are worth the price of
// tickBytes bytes each, in chains of chainLen.
func NewPayer(d pay.Domain, key ed25519.PrivateKey, ch pay.ChannelID, deposit, price pay.Amount, lim Limits, tickBytes uint64, chainLen int) (*Payer, error) {
	if lim.MaxPricePerGiB != 0 && price > lim.MaxPricePerGiB {
		return nil, fmt.Errorf("seller asks %s/GiB, above the cap of %s/GiB", price, lim.MaxPricePerGiB)
	}
	if lim.MaxSpend == 0 || lim.MaxSpend > deposit {
		lim.MaxSpend = deposit
	}
	if lim.ToleranceBytes == 0 {
		lim.ToleranceBytes = 64 << 10
	}
	tv := pay.OwedForBytes(tickBytes, price)
	if tv == 0 {
		tv = 1
	}
	if chainLen < 1 || chainLen > pay.MaxChainLength {
		chainLen = 4096
	}
	return &Payer{domain: d, key: key, channel: ch, deposit: deposit, limits: lim, price: price, chainLen: chainLen, tickValue: tv,
		ahead: pay.OwedForBytes(lim.prepayBytes(), price)}, nil
}

// Ahead is the prepayment the buyer pays beyond its bills.
func (p *Payer) Ahead() pay.Amount { return p.ahead }

// Paid is the value of everything sent so far.
func (p *Payer) Paid() pay.Amount {
	v, err := p.voucher.ValueWithTicks(p.ticks)
	if err != nil {
		return p.voucher.Cumulative
	}
	return v
}

// Billed is the most the seller has claimed in a statement.
func (p *Payer) Billed() pay.Amount { return p.billed }

// Payable is what the buyer agrees it owes for a statement claiming owed,
// given the bytes it counted itself (counted < 0: it did not count).
func (p *Payer) Payable(owed pay.Amount, counted int64) pay.Amount {
	if owed > p.billed {
		p.billed = owed
	}
	payable := owed
	if counted >= 0 {
		if limit := pay.OwedForBytes(uint64(counted)+p.limits.ToleranceBytes, p.price); payable > limit {
			payable = limit
		}
	}
	return min(payable, p.limits.MaxSpend)
}

// Pay returns what to send so that the seller holds at least billed plus
// ahead, the buyer's prepayment (capped by MaxSpend): ticks of the current
// voucher when its chain can carry it, else a new voucher. A new voucher is
// signed for billed (or what was already paid, if more), and its ticks
// carry the prepayment, so an honest seller can claim what was used without
// what was paid ahead. Ticks are rounded down to whole ticks.
func (p *Payer) Pay(billed, ahead pay.Amount) (Payment, error) {
	target := min(billed, p.limits.MaxSpend)
	if room := p.limits.MaxSpend - target; ahead > room {
		ahead = room
	}
	target += ahead
	paid := p.Paid()
	if target <= paid {
		return Payment{}, nil
	}
	if k, ok := p.ticksFor(target); ok {
		if k <= p.ticks {
			return Payment{}, nil // less than one more tick owed
		}
		p.ticks = k
		return Payment{VoucherSeq: p.voucher.Seq, TickIndex: k, Preimage: p.chain.Preimage(int(k))}, nil
	}
	base := max(min(billed, target), paid)
	v := pay.Voucher{Channel: p.channel, Cumulative: base, Seq: p.voucher.Seq + 1}
	chain, err := pay.NewHashChain(p.chainLen)
	if err != nil {
		return Payment{}, err
	}
	v.Chain = &pay.ChainCommit{Root: chain.Root(), TickValue: p.tickValue, Length: uint32(p.chainLen)}
	// The chain must not let the seller redeem past the buyer's cap.
	if maxV, err := v.MaxValue(); err != nil || maxV > p.limits.MaxSpend {
		room := (uint64(p.limits.MaxSpend) - uint64(base)) / uint64(p.tickValue)
		if room == 0 {
			v.Chain, chain = nil, nil
		} else {
			v.Chain.Length = uint32(min(room, uint64(p.chainLen)))
		}
	}
	sv := v.Sign(p.domain, p.key)
	p.voucher, p.chain, p.ticks = sv, chain, 0
	pm := Payment{Voucher: &sv, VoucherSeq: sv.Seq}
	if k, ok := p.ticksFor(target); ok && k > 0 {
		p.ticks = k
		pm.TickIndex, pm.Preimage = k, chain.Preimage(int(k))
	}
	return pm, nil
}

// ticksFor is how many ticks of the current voucher pay target (rounded
// down), and whether its chain reaches that far.
func (p *Payer) ticksFor(target pay.Amount) (uint32, bool) {
	if p.voucher.Chain == nil || target < p.voucher.Cumulative {
		return 0, false
	}
	k := uint64(target-p.voucher.Cumulative) / uint64(p.tickValue)
	if k > uint64(p.voucher.Chain.Length) {
		return 0, false
	}
	return uint32(k), true
}

// Final returns the exact final payment for billed: a fresh voucher without
// a chain, so it is worth exactly billed (capped by MaxSpend), even when
// less than what was paid ahead, which it asks back. Nothing when the
// newest voucher, without ticks, already is worth exactly that.
func (p *Payer) Final(billed pay.Amount) (Payment, error) {
	billed = min(billed, p.limits.MaxSpend)
	if p.voucher.Seq != 0 && p.ticks == 0 && p.voucher.Cumulative == billed && p.voucher.Chain == nil {
		return Payment{}, nil
	}
	sv := pay.Voucher{Channel: p.channel, Cumulative: billed, Seq: p.voucher.Seq + 1}.Sign(p.domain, p.key)
	p.voucher, p.chain, p.ticks = sv, nil, 0
	return Payment{Voucher: &sv, VoucherSeq: sv.Seq}, nil
}

// Latest is the newest voucher sent and the ticks sent beyond it.
func (p *Payer) Latest() (pay.SignedVoucher, uint32, [32]byte) {
	var pre [32]byte
	if p.chain != nil && p.ticks > 0 {
		pre = p.chain.Preimage(int(p.ticks))
	}
	return p.voucher, p.ticks, pre
}
