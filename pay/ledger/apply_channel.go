package ledger

import (
	"errors"
	"fmt"
	"math"

	"github.com/x402/x402/pay"
)

// errSettled is the answer to any action on a settled channel.
var errSettled = errors.New("channel already settled")

func (s *step) openChannel(b OpenChannel) (Receipt, error) {
	g := s.l.g
	if b.Seller.IsZero() {
		return Receipt{}, errors.New("seller is unset")
	}
	if b.Seller == s.from {
		return Receipt{}, errors.New("buyer and seller are the same account")
	}
	if err := checkAssetAmount(b.Asset, b.Deposit); err != nil {
		return Receipt{}, fmt.Errorf("deposit: %w", err)
	}
	if b.Challenge < g.MinChallenge || b.Challenge > g.MaxChallenge {
		return Receipt{}, fmt.Errorf("challenge period %v outside the ledger's bounds %v..%v", b.Challenge, g.MinChallenge, g.MaxChallenge)
	}
	if err := s.checkSellerAnchored(b.Seller); err != nil {
		return Receipt{}, err
	}
	id := ChannelIDFor(s.l.d, s.from, s.nonce)
	if s.v.get(bucketChannels, id[:]) != nil {
		return Receipt{}, fmt.Errorf("channel %s already exists", id)
	}
	if err := s.v.debit(s.from, b.Asset, b.Deposit); err != nil {
		return Receipt{}, fmt.Errorf("deposit: %w", err)
	}
	s.v.setChannel(ChannelState{ID: id, Buyer: s.from, Seller: b.Seller, Asset: b.Asset,
		Deposit: b.Deposit, Challenge: b.Challenge, Status: StatusOpen})
	return Receipt{Channel: id, Paid: b.Deposit}, nil
}

func (s *step) topUp(b TopUp) (Receipt, error) {
	ch, err := s.v.channel(b.Channel)
	if err != nil {
		return Receipt{}, err
	}
	if s.from != ch.Buyer {
		return Receipt{}, fmt.Errorf("only the buyer %s may top up channel %s", ch.Buyer, ch.ID)
	}
	switch ch.Status {
	case StatusSettled:
		return Receipt{}, errSettled
	case StatusClosing:
		return Receipt{}, fmt.Errorf("channel %s is closing", ch.ID)
	}
	if b.Amount == 0 {
		return Receipt{}, errors.New("amount is zero")
	}
	if ch.Deposit, err = ch.Deposit.Add(b.Amount); err != nil {
		return Receipt{}, fmt.Errorf("deposit: %w", err)
	}
	if err := s.v.debit(s.from, ch.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	s.v.setChannel(ch)
	return Receipt{Channel: ch.ID, Paid: b.Amount}, nil
}

// voucherValue checks the voucher's signature by the channel's buyer and
// the revealed ticks, and returns what the voucher is worth with them.
func (s *step) voucherValue(ch ChannelState, sv pay.SignedVoucher, ticks uint32, preimage [32]byte) (pay.Amount, error) {
	if err := sv.Verify(s.l.d, ch.Buyer); err != nil {
		return 0, err
	}
	if ticks == 0 {
		if preimage != [32]byte{} {
			return 0, errors.New("tick preimage given without ticks")
		}
		return sv.Cumulative, nil
	}
	c := sv.Chain
	if c == nil {
		return 0, fmt.Errorf("%d ticks claimed but the voucher commits to no hash chain", ticks)
	}
	if ticks > c.Length {
		return 0, fmt.Errorf("%d ticks: chain longer than committed (%d)", ticks, c.Length)
	}
	if err := pay.VerifyPreimage(c.Root, preimage, ticks, c.Length); err != nil {
		if errors.Is(err, pay.ErrChainMismatch) {
			return 0, fmt.Errorf("%d ticks: tick preimage does not hash to the committed root", ticks)
		}
		return 0, fmt.Errorf("%d ticks: %w", ticks, err)
	}
	return sv.ValueWithTicks(ticks)
}

// claimable returns the channel a claim or coop close acts on.
func (s *step) claimable(id pay.ChannelID) (ChannelState, error) {
	ch, err := s.v.channel(id)
	if err != nil {
		return ChannelState{}, err
	}
	if ch.Status == StatusSettled {
		return ChannelState{}, errSettled
	}
	return ch, nil
}

func (s *step) claim(b Claim) (Receipt, error) {
	ch, err := s.claimable(b.Voucher.Channel)
	if err != nil {
		return Receipt{}, err
	}
	if s.from != ch.Seller {
		return Receipt{}, fmt.Errorf("voucher is for channel %s, whose seller is %s, not %s", ch.ID, ch.Seller, s.from)
	}
	if ch.Status == StatusClosing && s.now >= ch.CloseAt {
		return Receipt{}, fmt.Errorf("challenge period ended at %d (now %d); the channel can only be finalized", ch.CloseAt, s.now)
	}
	value, err := s.voucherValue(ch, b.Voucher, b.Ticks, b.Preimage)
	if err != nil {
		return Receipt{}, err
	}
	if b.Voucher.Seq < ch.BestSeq {
		return Receipt{}, fmt.Errorf("voucher seq %d is older than the claimed seq %d", b.Voucher.Seq, ch.BestSeq)
	}
	if value <= ch.Claimed {
		return Receipt{}, fmt.Errorf("voucher amount %d is not above the claimed %d", value, ch.Claimed)
	}
	if value > ch.Deposit {
		return Receipt{}, fmt.Errorf("claim above deposit: voucher worth %d, deposit %d", value, ch.Deposit)
	}
	paid, fee, err := s.payWithFee(ch.Seller, ch.Asset, value-ch.Claimed)
	if err != nil {
		return Receipt{}, err
	}
	ch.Claimed, ch.BestSeq = value, b.Voucher.Seq
	s.v.setChannel(ch)
	return Receipt{Channel: ch.ID, Paid: paid, Fee: fee}, nil
}

func (s *step) startClose(b StartClose) (Receipt, error) {
	ch, err := s.claimable(b.Channel)
	if err != nil {
		return Receipt{}, err
	}
	if s.now <= 0 {
		return Receipt{}, errNoClock
	}
	switch s.from {
	case ch.Buyer:
		if ch.Status == StatusClosing {
			return Receipt{}, fmt.Errorf("close already started; the challenge period ends at %d", ch.CloseAt)
		}
		if s.now > math.MaxInt64-int64(ch.Challenge) {
			return Receipt{}, fmt.Errorf("time %d plus the challenge period overflows", s.now)
		}
		ch.CloseAt = s.now + int64(ch.Challenge)
	case ch.Seller:
		// The seller can claim before closing, so its close needs no
		// challenge period (and may shorten the buyer's).
		if ch.Status == StatusOpen || s.now < ch.CloseAt {
			ch.CloseAt = s.now
		}
	default:
		return Receipt{}, fmt.Errorf("only the buyer or the seller of channel %s may close it", ch.ID)
	}
	ch.Status = StatusClosing
	s.v.setChannel(ch)
	return Receipt{Channel: ch.ID}, nil
}

// settle refunds the rest of the deposit to the buyer.
func (s *step) settle(ch ChannelState) (pay.Amount, error) {
	refund, err := ch.Deposit.Sub(ch.Claimed)
	if err != nil {
		return 0, fmt.Errorf("channel %s: claimed above its deposit: %w", ch.ID, err)
	}
	if err := s.v.credit(ch.Buyer, ch.Asset, refund); err != nil {
		return 0, err
	}
	ch.Refunded, ch.Status = refund, StatusSettled
	s.v.setChannel(ch)
	return refund, nil
}

func (s *step) finalize(b Finalize) (Receipt, error) {
	ch, err := s.claimable(b.Channel)
	if err != nil {
		return Receipt{}, err
	}
	if ch.Status == StatusOpen {
		return Receipt{}, fmt.Errorf("channel %s is open; its buyer or seller must start the close first", ch.ID)
	}
	if s.now <= 0 {
		return Receipt{}, errNoClock
	}
	if s.now < ch.CloseAt {
		return Receipt{}, fmt.Errorf("challenge period runs until %d (now %d)", ch.CloseAt, s.now)
	}
	refund, err := s.settle(ch)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Channel: ch.ID, Refund: refund}, nil
}

func (s *step) coopClose(b CoopClose) (Receipt, error) {
	ch, err := s.claimable(b.Voucher.Channel)
	if err != nil {
		return Receipt{}, err
	}
	if s.from != ch.Buyer {
		return Receipt{}, fmt.Errorf("only the buyer %s of channel %s may submit its cooperative close", ch.Buyer, ch.ID)
	}
	if err := b.VerifySeller(s.l.d, ch.Seller); err != nil {
		return Receipt{}, err
	}
	value, err := s.voucherValue(ch, b.Voucher, b.Ticks, b.Preimage)
	if err != nil {
		return Receipt{}, err
	}
	if value < ch.Claimed {
		return Receipt{}, fmt.Errorf("voucher amount %d is below the claimed %d", value, ch.Claimed)
	}
	if value > ch.Deposit {
		return Receipt{}, fmt.Errorf("claim above deposit: voucher worth %d, deposit %d", value, ch.Deposit)
	}
	paid, fee, err := s.payWithFee(ch.Seller, ch.Asset, value-ch.Claimed)
	if err != nil {
		return Receipt{}, err
	}
	ch.Claimed, ch.BestSeq = value, max(ch.BestSeq, b.Voucher.Seq)
	refund, err := s.settle(ch)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Channel: ch.ID, Paid: paid, Fee: fee, Refund: refund}, nil
}
