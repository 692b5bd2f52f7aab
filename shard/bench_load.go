package shard

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x402/x402/consensus/runtime/transport"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// Sizing of the offered load.
const (
	minSenders = 64
	// saturateSenders keep enough requests in flight to fill the shard's
	// batches when the load is offered as fast as possible: three batches
	// of pbft.DefaultMaxBatch. With 256, the load was bound by its own
	// round trips and left processors idle (BENCHMARKS.md, ninth session).
	saturateSenders = 768
	// presignRate is the rate the load signs ahead for when it is offered
	// as fast as possible (a sender signs inline once its supply runs out,
	// and then competes with the shard for the processors): above the
	// 10,000 tx/s the shard aims for.
	presignRate = 12_000
	// maxPresigned bounds the transactions signed ahead in all (about 200
	// bytes each), so a long run does not hold its whole load in memory.
	maxPresigned = 100_000
	// connectTimeout bounds the wait for the client's connections.
	connectTimeout = 30 * time.Second
)

// defaultSenders is how many senders keep rate transactions per second in
// flight when each takes about five one-way delays plus processing, with
// room for the tail (a sender short makes the load generator, not the
// shard, the queue); at least minSenders, and saturateSenders when the
// load is offered as fast as possible; at most the identities one client
// connection carries.
func defaultSenders(rate float64, delay time.Duration) int {
	if rate <= 0 {
		return saturateSenders
	}
	need := rate * (8*delay + 150*time.Millisecond).Seconds()
	return min(transport.MaxAttach, max(minSenders, int(math.Ceil(need))))
}

// presignCount is how many transactions each sender signs before the clock
// starts: its share of what the run offers.
func presignCount(cfg BenchConfig) int {
	rate := cfg.Rate
	if rate <= 0 {
		rate = presignRate
	}
	total := min(rate*cfg.Duration.Seconds(), maxPresigned)
	return int(math.Ceil(total/float64(cfg.Senders))) + 1
}

// waitConnected waits until the client is connected to every replica with
// every identity, so no handshake falls into the measured window.
func waitConnected(ctx context.Context, c *LedgerClient) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !c.Connected() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("bench: connecting to the shard: %w", ctx.Err())
		}
	}
	return nil
}

// senderLoad is one sender's transactions, nonces in order, signed ahead
// as far as the run is expected to go. It belongs to one goroutine.
type senderLoad struct {
	key    ed25519.PrivateKey
	from   pay.Account
	d      pay.Domain
	body   ledger.Body
	nonce  uint64 // the last nonce handed out
	signed []ledger.SignedTx
	retry  *ledger.SignedTx
}

// next returns the transaction to submit: one whose nonce was not used
// (rejected), else the one with the next nonce.
func (s *senderLoad) next() ledger.SignedTx {
	if t := s.retry; t != nil {
		s.retry = nil
		return *t
	}
	s.nonce++
	if len(s.signed) > 0 && s.signed[0].Nonce == s.nonce {
		t := s.signed[0]
		s.signed = s.signed[1:]
		return t
	}
	return ledger.Tx{From: s.from, Nonce: s.nonce, Body: s.body}.Sign(s.d, s.key)
}

// unuse hands tx out again: the ledger rejected it, so its nonce is free.
func (s *senderLoad) unuse(tx ledger.SignedTx) { s.retry = &tx }

// prepareLoad reads every sender's nonce from the shard (which also warms
// up the client's identities) and signs count transactions of body for
// each, in parallel.
func prepareLoad(ctx context.Context, c *LedgerClient, d pay.Domain, keys []ed25519.PrivateKey, count int, body ledger.Body) ([]*senderLoad, error) {
	loads := make([]*senderLoad, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			from := pay.AccountOf(k.Public().(ed25519.PublicKey))
			st, err := c.Account(ctx, from)
			if err != nil {
				errs[i] = fmt.Errorf("bench: sender %s: %w", from, err)
				return
			}
			ld := &senderLoad{key: k, from: from, d: d, body: body, nonce: st.Nonce, signed: make([]ledger.SignedTx, 0, count)}
			for n := range uint64(count) {
				ld.signed = append(ld.signed, ledger.Tx{From: from, Nonce: st.Nonce + 1 + n, Body: body}.Sign(d, k))
			}
			loads[i] = ld
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return loads, nil
}

// pacer hands out the due times of an open-loop load: the i-th transaction
// is due at start + i/rate, whether or not the earlier ones finished.
type pacer struct {
	start    time.Time
	interval time.Duration
	next     atomic.Int64
}

func newPacer(start time.Time, rate float64) *pacer {
	return &pacer{start: start, interval: time.Duration(float64(time.Second) / rate)}
}

// slot returns the due time of the next transaction.
func (p *pacer) slot() time.Time {
	return p.start.Add(time.Duration(p.next.Add(1)-1) * p.interval)
}

// sleepUntil waits until t; it reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
