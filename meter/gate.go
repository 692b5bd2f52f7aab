package meter

import (
	"context"
	"time"
)

// Gate decides whether a buyer may relay more bytes. The relay calls Acquire
// before each chunk and relays at most the granted number of bytes; the
// payment layer implements it to enforce a credit window.
type Gate interface {
	// Acquire blocks until buyer may relay more bytes and returns how many
	// (between 1 and want), or returns an error when ctx ends (the
	// connection closed) or the buyer is cut off.
	Acquire(ctx context.Context, buyer *Buyer, want int64) (int64, error)
	// Release reports that a grant of granted bytes ended with used bytes
	// relayed (and already counted in the buyer's meter); used < granted
	// when the connection ended or failed mid-chunk.
	Release(buyer *Buyer, granted, used int64)
}

// AllowAll is the Gate that grants every request in full.
type AllowAll struct{}

// Acquire grants want bytes at once.
func (AllowAll) Acquire(ctx context.Context, _ *Buyer, want int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return want, nil
}

// Release does nothing.
func (AllowAll) Release(*Buyer, int64, int64) {}

// HoldLimiter is implemented by gates whose grants must not sit unused: a
// relay whose chunk stalls returns the unused part of its grant after at
// most MaxHold, so quiet connections do not starve busy ones of credit.
type HoldLimiter interface {
	MaxHold() time.Duration
}
