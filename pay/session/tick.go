package session

import (
	"fmt"

	"github.com/x402/x402/internal/wire"
)

// datagramTick is the first byte of a tick datagram.
const datagramTick uint8 = 1

// tickSize is the length of a tick datagram.
const tickSize = 1 + 4 + 8 + 4 + 32

// tick is one datagram: preimage Index of the hash chain committed in the
// voucher VoucherSeq, on the session the seller numbered Session.
type tick struct {
	Session    uint32
	VoucherSeq uint64
	Index      uint32
	Preimage   [32]byte
}

// encode returns the datagram.
func (t tick) encode() []byte {
	return wire.NewWriter(tickSize).U8(datagramTick).U32(t.Session).U64(t.VoucherSeq).
		U32(t.Index).Fixed(t.Preimage[:]).Bytes()
}

// decodeTick decodes exactly one tick datagram.
func decodeTick(b []byte) (tick, error) {
	r := wire.NewReader(b)
	var t tick
	if k := r.U8(); r.Err() == nil && k != datagramTick {
		return tick{}, fmt.Errorf("%w: unknown datagram kind %d", ErrMalformed, k)
	}
	t.Session = r.U32()
	t.VoucherSeq = r.U64()
	t.Index = r.U32()
	r.Fixed(t.Preimage[:])
	if err := r.Done(); err != nil {
		return tick{}, fmt.Errorf("%w: tick datagram: %w", ErrMalformed, err)
	}
	return t, nil
}
