package shard

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/x402/x402/consensus/runtime"
	"github.com/x402/x402/pay/ledger"
)

// clockReporter orders this replica's signed clock reading on the shard,
// through a consensus client of its own, so that the shard's ledger time
// comes from its replicas' clocks (see ledger.Replicated), never from a
// client's. It reports every ledger.ClockReportEvery while the ledger is
// in use and every ledger.ClockReportIdleEvery once it has been idle for
// ledger.ClockIdleAfter (see clockPace).
type clockReporter struct {
	c      *runtime.Client
	g      Genesis
	key    ed25519.PrivateKey
	id     uint32
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	// activity is the ledger's count of applied ops other than clock
	// reports (ledger.Replicated.Activity).
	activity func() uint64
}

func startClockReporter(g Genesis, pubs []ed25519.PublicKey, key ed25519.PrivateKey, id uint32, activity func() uint64, o opts, log *slog.Logger) (*clockReporter, error) {
	c, err := runtime.Dial(runtime.ClientConfig{Domain: Domain(g.Ledger), Replicas: pubs, Addrs: g.Addresses(), Identities: 1, Impairment: o.impairment, Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cr := &clockReporter{c: c, g: g, key: key, id: id, log: log, cancel: cancel, done: make(chan struct{}), activity: activity}
	go cr.run(ctx)
	return cr, nil
}

func (cr *clockReporter) run(ctx context.Context) {
	defer close(cr.done)
	tick := time.NewTicker(ledger.ClockReportEvery)
	defer tick.Stop()
	pace := clockPace{active: time.Now(), seen: cr.activity()}
	for now := time.Now(); ; {
		if pace.due(now, cr.activity()) {
			cr.report(ctx, now)
			pace.reported = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case now = <-tick.C:
		}
	}
}

func (cr *clockReporter) report(ctx context.Context, now time.Time) {
	client, ts, op := ledger.ClockOp(cr.g.Ledger.Domain(), cr.key, cr.id, now)
	sctx, cancel := context.WithTimeout(ctx, 10*ledger.ClockReportEvery)
	defer cancel()
	if _, err := cr.c.SubmitUnsigned(sctx, client, ts, op); err != nil && ctx.Err() == nil {
		cr.log.Debug("clock report not ordered", "err", err)
	}
}

// clockPace decides when a replica reports its clock: at every tick while
// the ledger applied something else within ledger.ClockIdleAfter (or
// since the replica started), and every ledger.ClockReportIdleEvery when
// it did not.
type clockPace struct {
	seen     uint64    // the activity count last seen
	active   time.Time // when it last changed (or the start)
	reported time.Time // the last report (zero: none yet)
}

// due reports whether to report at now, the ledger's activity count being
// activity, and notes the activity.
func (p *clockPace) due(now time.Time, activity uint64) bool {
	if activity != p.seen {
		p.seen, p.active = activity, now
	}
	if now.Sub(p.active) < ledger.ClockIdleAfter {
		return true
	}
	return p.reported.IsZero() || now.Sub(p.reported) >= ledger.ClockReportIdleEvery
}

// close stops reporting and disconnects.
func (cr *clockReporter) close() error {
	cr.cancel()
	<-cr.done
	return cr.c.Close()
}
