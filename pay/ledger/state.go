package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// AccountState is an account's balances and its last applied nonce (the
// next transaction must carry Nonce+1).
type AccountState struct {
	Balances map[pay.Asset]pay.Amount `json:"balances"`
	Nonce    uint64                   `json:"nonce"`
}

// ChannelStatus is where a channel is in its life.
type ChannelStatus string

// The channel statuses.
const (
	StatusOpen    ChannelStatus = "open"    // claims and top-ups accepted
	StatusClosing ChannelStatus = "closing" // challenge period until CloseAt
	StatusSettled ChannelStatus = "settled" // paid out; final
)

// ChannelState is a payment channel on the ledger. The escrow it holds is
// Deposit - Claimed until it settles, when the rest (Refunded) goes back
// to the buyer.
type ChannelState struct {
	ID        pay.ChannelID `json:"id"`
	Buyer     pay.Account   `json:"buyer"`
	Seller    pay.Account   `json:"seller"`
	Asset     pay.Asset     `json:"asset"`
	Deposit   pay.Amount    `json:"deposit"`
	Claimed   pay.Amount    `json:"claimed"`  // paid to the seller so far, fees included
	Refunded  pay.Amount    `json:"refunded"` // returned to the buyer at settlement
	BestSeq   uint64        `json:"best_seq"` // sequence of the newest claimed voucher
	Challenge time.Duration `json:"challenge"`
	CloseAt   int64         `json:"close_at"` // unix ns the challenge period ends; 0 unless closing or settled after a close
	Status    ChannelStatus `json:"status"`
}

// Escrow is what the channel still holds.
func (c ChannelState) Escrow() pay.Amount {
	if c.Status == StatusSettled || c.Claimed > c.Deposit {
		return 0
	}
	return c.Deposit - c.Claimed
}

// ErrUnknownChannel is returned (wrapped) for a channel id the ledger has
// never opened.
var ErrUnknownChannel = errors.New("unknown channel")

const channelRecordVersion = 1

var statusCodes = [...]ChannelStatus{1: StatusOpen, 2: StatusClosing, 3: StatusSettled}

func statusCode(s ChannelStatus) uint8 {
	for i, v := range statusCodes {
		if v == s && i > 0 {
			return uint8(i)
		}
	}
	return 0
}

// encodeChannel is the channel's stored record (the id is its key).
func encodeChannel(c ChannelState) []byte {
	return wire.NewWriter(128).U8(channelRecordVersion).Fixed(c.Buyer[:]).Fixed(c.Seller[:]).
		String(string(c.Asset)).U64(uint64(c.Deposit)).U64(uint64(c.Claimed)).U64(uint64(c.Refunded)).
		U64(c.BestSeq).U64(uint64(c.Challenge)).U64(uint64(c.CloseAt)).U8(statusCode(c.Status)).Bytes()
}

func decodeChannel(id pay.ChannelID, b []byte) (ChannelState, error) {
	r := wire.NewReader(b)
	c := ChannelState{ID: id}
	if v := r.U8(); r.Err() == nil && v != channelRecordVersion {
		r.Fail(fmt.Errorf("record version %d", v))
	}
	r.Fixed(c.Buyer[:])
	r.Fixed(c.Seller[:])
	c.Asset = readAsset(r)
	c.Deposit = pay.Amount(r.U64())
	c.Claimed = pay.Amount(r.U64())
	c.Refunded = pay.Amount(r.U64())
	c.BestSeq = r.U64()
	c.Challenge = time.Duration(r.U64())
	c.CloseAt = int64(r.U64())
	if s := r.U8(); r.Err() == nil {
		if s == 0 || int(s) >= len(statusCodes) {
			r.Fail(fmt.Errorf("status code %d", s))
		} else {
			c.Status = statusCodes[s]
		}
	}
	if err := r.Done(); err != nil {
		return ChannelState{}, fmt.Errorf("channel %s: corrupt record: %w", id, err)
	}
	return c, nil
}
