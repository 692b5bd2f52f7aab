package ledger

import (
	"encoding/hex"
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

// marshal encodes r: the version, the receipt (sequence, reason, the
// channel if any, paid, fee, refund) and the transaction id if known.
// There is one encoding per value.
func (r txResult) marshal() []byte {
	w := wire.NewWriter(80 + len(r.Err)).U8(txResultVersion).U64(r.Seq).String(r.Err)
	w.Bool(r.Channel != pay.ChannelID{})
	if r.Channel != (pay.ChannelID{}) {
		w.Fixed(r.Channel[:])
	}
	w.U64(uint64(r.Paid)).U64(uint64(r.Fee)).U64(uint64(r.Refund))
	id, err := hex.DecodeString(r.Tx)
	w.Bool(err == nil && len(id) == 32)
	if err == nil && len(id) == 32 {
		w.Fixed(id)
	}
	return w.Bytes()
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
	if r.Bool() {
		r.Fixed(tr.Channel[:])
		if r.Err() == nil && tr.Channel == (pay.ChannelID{}) {
			r.Fail(errors.New("zero channel id present"))
		}
	}
	tr.Paid, tr.Fee, tr.Refund = pay.Amount(r.U64()), pay.Amount(r.U64()), pay.Amount(r.U64())
	if r.Bool() {
		var id [32]byte
		r.Fixed(id[:])
		tr.Tx = hex.EncodeToString(id[:])
	}
	if err := r.Done(); err != nil {
		return txResult{}, fmt.Errorf("decode transaction result: %w", err)
	}
	return tr, nil
}
