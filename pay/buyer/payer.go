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
}

// Payment is what to send the seller for a statement: a new voucher, or the
// ticks of the current one up to TickIndex (with its preimage), or nothing.
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
	return &Payer{domain: d, key: key, channel: ch, deposit: deposit, limits: lim, price: price, chainLen: chainLen, tickValue: tv}, nil
}

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

// Pay returns what to send so that the seller holds at least target
// (rounded down to a whole tick when ticks can carry it), or exact with a
// new voucher when exact is true (the final payment).
//
// Ticks travel as unacknowledged datagrams and may be lost, so an exact
// payment always signs a fresh voucher for everything when ticks were sent.
func (p *Payer) Pay(target pay.Amount, exact bool) (Payment, error) {
	paid := p.Paid()
	if exact && p.ticks > 0 && target < paid {
		target = paid
	}
	if target < paid || target == paid && !(exact && p.ticks > 0) {
		return Payment{}, nil
	}
	if !exact && p.voucher.Chain != nil && target >= p.voucher.Cumulative {
		k := uint64(target-p.voucher.Cumulative) / uint64(p.tickValue)
		if k <= uint64(p.voucher.Chain.Length) {
			if uint32(k) <= p.ticks {
				return Payment{}, nil // less than one more tick owed
			}
			p.ticks = uint32(k)
			return Payment{VoucherSeq: p.voucher.Seq, TickIndex: p.ticks, Preimage: p.chain.Preimage(int(k))}, nil
		}
	}
	v := pay.Voucher{Channel: p.channel, Cumulative: target, Seq: p.voucher.Seq + 1}
	var chain *pay.HashChain
	if !exact {
		var err error
		if chain, err = pay.NewHashChain(p.chainLen); err != nil {
			return Payment{}, err
		}
		v.Chain = &pay.ChainCommit{Root: chain.Root(), TickValue: p.tickValue, Length: uint32(p.chainLen)}
		// The chain must not let the seller redeem past the buyer's cap.
		if maxV, err := v.MaxValue(); err != nil || maxV > p.limits.MaxSpend {
			room := (uint64(p.limits.MaxSpend) - uint64(target)) / uint64(p.tickValue)
			if room == 0 {
				v.Chain, chain = nil, nil
			} else {
				v.Chain.Length = uint32(min(room, uint64(p.chainLen)))
			}
		}
	}
	sv := v.Sign(p.domain, p.key)
	p.voucher, p.chain, p.ticks = sv, chain, 0
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
