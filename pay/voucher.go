package pay

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/x402/x402/internal/wire"
)

// ChainCommit commits a voucher to a hash chain: each revealed preimage
// beyond the voucher adds TickValue, up to Length ticks.
type ChainCommit struct {
	Root      [32]byte
	TickValue Amount
	Length    uint32
}

// Voucher is the buyer's promise: the seller may redeem Cumulative (plus
// ticks of its chain) from Channel. A higher Seq with a higher amount
// supersedes every earlier voucher.
type Voucher struct {
	Channel    ChannelID
	Cumulative Amount
	Seq        uint64
	Chain      *ChainCommit // optional
}

// SignedVoucher is a Voucher with the buyer's signature.
type SignedVoucher struct {
	Voucher
	Sig [ed25519.SignatureSize]byte
}

// encode writes the voucher's canonical payload.
func (v Voucher) encode(w *wire.Writer) {
	w.Fixed(v.Channel[:]).U64(uint64(v.Cumulative)).U64(v.Seq).Bool(v.Chain != nil)
	if v.Chain != nil {
		w.Fixed(v.Chain.Root[:]).U64(uint64(v.Chain.TickValue)).U32(v.Chain.Length)
	}
}

// Payload is the canonical encoding that is signed.
func (v Voucher) Payload() []byte {
	w := wire.NewWriter(96)
	v.encode(w)
	return w.Bytes()
}

// Sign signs v as the buyer.
func (v Voucher) Sign(d Domain, buyer ed25519.PrivateKey) SignedVoucher {
	return SignedVoucher{Voucher: v, Sig: d.Sign(buyer, KindVoucher, v.Payload())}
}

// ErrBadSignature is returned for a signature that does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// Verify checks the buyer's signature and the chain commitment's bounds.
func (s SignedVoucher) Verify(d Domain, buyer Account) error {
	if c := s.Chain; c != nil && (c.Length == 0 || c.Length > MaxChainLength) {
		return fmt.Errorf("voucher seq %d: chain length %d outside 1..%d", s.Seq, c.Length, MaxChainLength)
	}
	if !d.Verify(buyer, KindVoucher, s.Payload(), s.Sig) {
		return fmt.Errorf("voucher seq %d for channel %s: %w", s.Seq, s.Channel, ErrBadSignature)
	}
	return nil
}

// ValueWithTicks is what the voucher is worth with k ticks revealed.
func (v Voucher) ValueWithTicks(k uint32) (Amount, error) {
	if k == 0 {
		return v.Cumulative, nil
	}
	if v.Chain == nil || k > v.Chain.Length {
		return 0, fmt.Errorf("voucher seq %d: %d ticks beyond its chain", v.Seq, k)
	}
	ticks, err := mulAmount(v.Chain.TickValue, uint64(k))
	if err != nil {
		return 0, err
	}
	return v.Cumulative.Add(ticks)
}

// MaxValue is the voucher's worth with its whole chain revealed.
func (v Voucher) MaxValue() (Amount, error) {
	if v.Chain == nil {
		return v.Cumulative, nil
	}
	return v.ValueWithTicks(v.Chain.Length)
}

func mulAmount(a Amount, k uint64) (Amount, error) {
	if k != 0 && uint64(a) > ^uint64(0)/k {
		return 0, errors.New("amount overflow")
	}
	return a * Amount(k), nil
}

// Marshal encodes the signed voucher for the wire and the ledger.
func (s SignedVoucher) Marshal() []byte {
	w := wire.NewWriter(160)
	s.encode(w)
	return w.Fixed(s.Sig[:]).Bytes()
}

// DecodeVoucher reads a signed voucher from r (see Marshal).
func DecodeVoucher(r *wire.Reader) SignedVoucher {
	var s SignedVoucher
	r.Fixed(s.Channel[:])
	s.Cumulative = Amount(r.U64())
	s.Seq = r.U64()
	if r.Bool() {
		s.Chain = &ChainCommit{}
		r.Fixed(s.Chain.Root[:])
		s.Chain.TickValue = Amount(r.U64())
		s.Chain.Length = r.U32()
	}
	r.Fixed(s.Sig[:])
	return s
}

// UnmarshalVoucher decodes exactly one signed voucher.
func UnmarshalVoucher(b []byte) (SignedVoucher, error) {
	r := wire.NewReader(b)
	s := DecodeVoucher(r)
	if err := r.Done(); err != nil {
		return SignedVoucher{}, fmt.Errorf("decode voucher: %w", err)
	}
	return s, nil
}

// Encode writes the signed voucher into w.
func (s SignedVoucher) Encode(w *wire.Writer) {
	s.encode(w)
	w.Fixed(s.Sig[:])
}
