package ledger

import (
	"errors"
	"fmt"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// The result of a transaction op, as every replica of a shard returns it
// and its client decodes it, in binary: each of the four replies a
// transaction gets carries one, so it is a third the size of JSON, and it
// costs neither side a reflective encoder.

// txResultVersion starts every transaction result.
const txResultVersion = 1

// maxResultErr bounds the rejection reason a result carries.
const maxResultErr = 4096

// marshal encodes r: the version, the receipt (sequence, reason cut to
// maxResultErr bytes, the channel if any, paid, fee, refund) and the
// transaction id if known. There is one encoding per value.
func (r txResult) marshal() []byte {
	reason := r.Err[:min(len(r.Err), maxResultErr)]
	w := wire.NewWriter(96 + len(reason)).U8(txResultVersion).U64(r.Seq).String(reason)
	optional(w, r.Channel)
	w.U64(uint64(r.Paid)).U64(uint64(r.Fee)).U64(uint64(r.Refund))
	optional(w, r.Tx)
	return w.Bytes()
}

// optional writes a 32-byte value that is absent when zero: a presence
// flag, then the value if present.
func optional(w *wire.Writer, v [32]byte) {
	w.Bool(v != [32]byte{})
	if v != [32]byte{} {
		w.Fixed(v[:])
	}
}

// readOptional reads what optional wrote; a present zero value is an error
// (it has another encoding).
func readOptional(r *wire.Reader, v *[32]byte) {
	if r.Bool() {
		r.Fixed(v[:])
		if r.Err() == nil && *v == [32]byte{} {
			r.Fail(errors.New("a zero value marked present"))
		}
	}
}

// unmarshalTxResult decodes a transaction result a replica returned.
func unmarshalTxResult(b []byte) (txResult, error) {
	r := wire.NewReader(b)
	if v := r.U8(); r.Err() == nil && v != txResultVersion {
		r.Fail(fmt.Errorf("result version %d, want %d", v, txResultVersion))
	}
	var tr txResult
	tr.Seq = r.U64()
	tr.Err = r.String(maxResultErr)
	readOptional(r, (*[32]byte)(&tr.Channel))
	tr.Paid, tr.Fee, tr.Refund = pay.Amount(r.U64()), pay.Amount(r.U64()), pay.Amount(r.U64())
	readOptional(r, &tr.Tx)
	if err := r.Done(); err != nil {
		return txResult{}, fmt.Errorf("decode transaction result: %w", err)
	}
	return tr, nil
}
