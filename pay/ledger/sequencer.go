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
//
// Concurrent submissions are group-committed: while one batch is being
// applied, newer submissions queue, and the next batch applies them all at
// one timestamp with one fsync (as a PBFT batch will).
type Sequencer struct {
	l     *Ledger
	clock func() time.Time

	mu      sync.Mutex
	queue   []*submission // waiting for the next batch
	leading bool          // a Submit call is applying batches
	last    int64         // the last timestamp given
}

// submission is one queued transaction and where its receipt goes.
type submission struct {
	tx     SignedTx
	sigErr error
	done   chan Receipt // buffered: the batch never blocks on a reader
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

// Submit verifies tx's signature (in the caller's goroutine, so concurrent
// submitters verify in parallel), then queues it and waits until its batch
// is applied and committed. Once queued, a transaction is applied even if
// ctx ends meanwhile, so Submit then still waits for its receipt.
func (s *Sequencer) Submit(ctx context.Context, tx SignedTx) (Receipt, error) {
	sub := &submission{tx: tx, sigErr: tx.Verify(s.l.d), done: make(chan Receipt, 1)}
	if err := ctx.Err(); err != nil {
		return Receipt{}, fmt.Errorf("submit: %w", err)
	}
	s.mu.Lock()
	s.queue = append(s.queue, sub)
	if !s.leading {
		s.leading = true
		s.drain()
		s.leading = false
	}
	s.mu.Unlock()
	return <-sub.done, nil
}

// drain applies queued batches until the queue is empty; s.mu is held on
// entry and exit but not while a batch is applied.
func (s *Sequencer) drain() {
	for len(s.queue) > 0 {
		batch := s.queue
		s.queue = nil
		now := max(s.clock().UnixNano(), s.last)
		s.last = now
		s.mu.Unlock()
		txs := make([]SignedTx, len(batch))
		errs := make([]error, len(batch))
		for i, sub := range batch {
			txs[i], errs[i] = sub.tx, sub.sigErr
		}
		for i, r := range s.l.applyBatch(txs, now, errs) {
			batch[i].done <- r
		}
		s.mu.Lock()
	}
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
