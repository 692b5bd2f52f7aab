package shard

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/x402/x402/consensus/runtime"
	"github.com/x402/x402/pay/ledger"
)

// clockReporter orders this replica's signed clock reading on the shard
// every ledger.ClockReportEvery, through a consensus client of its own, so
// that the shard's ledger time comes from its replicas' clocks (see
// ledger.Replicated), never from a client's.
type clockReporter struct {
	c      *runtime.Client
	g      Genesis
	key    ed25519.PrivateKey
	id     uint32
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

func startClockReporter(g Genesis, pubs []ed25519.PublicKey, key ed25519.PrivateKey, id uint32, o opts, log *slog.Logger) (*clockReporter, error) {
	c, err := runtime.Dial(runtime.ClientConfig{Domain: Domain(g.Ledger), Replicas: pubs, Addrs: g.Addresses(), Identities: 1, Impairment: o.impairment, Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cr := &clockReporter{c: c, g: g, key: key, id: id, log: log, cancel: cancel, done: make(chan struct{})}
	go cr.run(ctx)
	return cr, nil
}

func (cr *clockReporter) run(ctx context.Context) {
	defer close(cr.done)
	tick := time.NewTicker(ledger.ClockReportEvery)
	defer tick.Stop()
	for {
		client, ts, op := ledger.ClockOp(cr.g.Ledger.Domain(), cr.key, cr.id, time.Now())
		sctx, cancel := context.WithTimeout(ctx, 10*ledger.ClockReportEvery)
		if _, err := cr.c.SubmitUnsigned(sctx, client, ts, op); err != nil && ctx.Err() == nil {
			cr.log.Debug("clock report not ordered", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// close stops reporting and disconnects.
func (cr *clockReporter) close() error {
	cr.cancel()
	<-cr.done
	return cr.c.Close()
}
