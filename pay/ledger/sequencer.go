package ledger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/x402/x402/pay"
)

// Sequencer is the single-node Client: it orders submitted transactions,
// gives each a timestamp from its clock (never going backwards) and applies
// it to the ledger, which commits (fsyncs) before Submit returns.
type Sequencer struct {
	l     *Ledger
	clock func() time.Time

	mu   sync.Mutex // serialises Submit
	last int64      // the last timestamp given
}

var _ Client = (*Sequencer)(nil)

// NewSequencer sequences transactions for l, timestamping them with clock
// (time.Now when nil).
func NewSequencer(l *Ledger, clock func() time.Time) *Sequencer {
	if clock == nil {
		clock = time.Now
	}
	return &Sequencer{l: l, clock: clock}
}

// Genesis returns the ledger's genesis.
func (s *Sequencer) Genesis(ctx context.Context) (Genesis, error) {
	if err := ctx.Err(); err != nil {
		return Genesis{}, err
	}
	return s.l.Genesis(), nil
}

// Submit verifies tx's signature, then applies it at the next timestamp.
func (s *Sequencer) Submit(ctx context.Context, tx SignedTx) (Receipt, error) {
	sigErr := tx.Verify(s.l.d) // outside the lock, so submitters verify in parallel
	if err := ctx.Err(); err != nil {
		return Receipt{}, fmt.Errorf("submit: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := max(s.clock().UnixNano(), s.last)
	s.last = now
	return s.l.applyBatch([]SignedTx{tx}, now, []error{sigErr})[0], nil
}

// Account reads an account.
func (s *Sequencer) Account(ctx context.Context, a pay.Account) (AccountState, error) {
	if err := ctx.Err(); err != nil {
		return AccountState{}, err
	}
	return s.l.Account(a)
}

// Channel reads a channel.
func (s *Sequencer) Channel(ctx context.Context, id pay.ChannelID) (ChannelState, error) {
	if err := ctx.Err(); err != nil {
		return ChannelState{}, err
	}
	return s.l.Channel(id)
}
