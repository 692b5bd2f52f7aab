package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

func TestSessionWelcomeStatementsVouchersTicksClose(t *testing.T) {
	final := Statement{BytesUp: 3 << 20, BytesDown: 9 << 20, Owed: pay.OwedForBytes(12<<20, 500_000_000)}
	e := newEnv(t, func(h *testHandler) { h.final = &final })
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	if got := b.Welcome(); got != e.h.welcome {
		t.Fatalf("welcome = %+v, want %+v", got, e.h.welcome)
	}

	// Statements: signed by the seller, verified and delivered in order.
	for i := range 3 {
		st := Statement{BytesUp: uint64(i+1) << 20, BytesDown: uint64(i+1) << 21, Owed: pay.Amount(i+1) * 1000}
		if err := e.srv.SendStatement(e.ch, st); err != nil {
			t.Fatal(err)
		}
		got := <-b.Statements()
		if got.Seq != uint64(i+1) || got.BytesUp != st.BytesUp || got.Owed != st.Owed || got.Channel != e.ch {
			t.Fatalf("statement %d = %+v", i, got)
		}
		if err := got.Verify(testDomain, e.seller); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.srv.SendStatement(pay.ChannelID{9}, Statement{}); !errors.Is(err, ErrNoSession) {
		t.Fatalf("statement to an unknown channel: %v", err)
	}

	// Vouchers: acked with the accepted amount.
	const n = 1000
	chain, err := pay.NewHashChain(n)
	if err != nil {
		t.Fatal(err)
	}
	v := pay.Voucher{Channel: e.ch, Cumulative: 5000, Seq: 1, Chain: &pay.ChainCommit{Root: chain.Root(), TickValue: 10, Length: n}}
	ack, err := b.SendVoucher(ctx, v.Sign(testDomain, e.buyerKey))
	if err != nil {
		t.Fatal(err)
	}
	if ack != (VoucherAck{Seq: 1, Accepted: 5000}) {
		t.Fatalf("ack = %+v", ack)
	}

	// Ticks: datagrams may be lost, so the newest is resent until it lands.
	for i := 1; i <= n; i++ {
		if err := b.SendTick(1, uint32(i), chain.Preimage(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, e.h, "the last tick", func() bool { return e.h.maxTick() == n }, func() {
		_ = b.SendTick(1, n, chain.Preimage(n))
	})
	calls := e.h.tickCalls()
	if len(calls) == 0 {
		t.Fatal("no tick reached the handler")
	}
	prev := uint32(0)
	for _, c := range calls {
		if c.seq != 1 || c.ticks <= prev {
			t.Fatalf("tick call %+v after %d", c, prev)
		}
		if err := pay.VerifyPreimage(chain.Root(), c.preimage, c.ticks, n); err != nil {
			t.Fatalf("tick %d: %v", c.ticks, err)
		}
		prev = c.ticks
	}
	stats, ok := e.srv.TickStats(e.ch)
	if !ok || stats.Valid != uint64(len(calls)) || stats.Invalid != 0 {
		t.Fatalf("tick stats %+v (live %v), %d calls", stats, ok, len(calls))
	}
	t.Logf("%d of %d ticks reached the handler, %d stale", len(calls), n, stats.Stale)

	// Orderly close: the final statement arrives, then the channel closes.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var last SignedStatement
	for st := range b.Statements() {
		last = st
	}
	if last.BytesDown != final.BytesDown || last.Seq != 4 {
		t.Fatalf("final statement = %+v", last)
	}
	if err := e.h.waitClosed(t); err != nil {
		t.Fatalf("Closed(%v), want nil", err)
	}
	if b.Err() != nil {
		t.Fatalf("Err() = %v after Close", b.Err())
	}
	if _, err := b.SendVoucher(ctx, v.Sign(testDomain, e.buyerKey)); !errors.Is(err, ErrClosed) {
		t.Fatalf("voucher after close: %v", err)
	}
}

func TestVoucherRejections(t *testing.T) {
	e := newEnv(t, func(h *testHandler) {
		h.rejectV = func(v pay.SignedVoucher) error {
			if v.Cumulative > 1_000_000 {
				return errors.New("beyond the deposit")
			}
			return nil
		}
	})
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 2_000_000, Seq: 1}.Sign(testDomain, e.buyerKey))
	if pe := asError(t, err); pe.Code != CodeVoucherRejected || pe.Message != "beyond the deposit" {
		t.Fatalf("handler rejection: %v", err)
	}

	otherKey, _ := newKey(t)
	_, err = b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 10, Seq: 2}.Sign(testDomain, otherKey))
	if pe := asError(t, err); pe.Code != CodeVoucherRejected {
		t.Fatalf("forged voucher: %v", err)
	}

	if _, err := b.SendVoucher(ctx, pay.Voucher{Channel: pay.ChannelID{7}, Seq: 3}.Sign(testDomain, e.buyerKey)); err == nil {
		t.Fatal("voucher for another channel was sent")
	}

	// The session goes on.
	ack, err := b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 10, Seq: 4}.Sign(testDomain, e.buyerKey))
	if err != nil || ack != (VoucherAck{Seq: 4, Accepted: 10}) {
		t.Fatalf("voucher after rejections: %+v, %v", ack, err)
	}
	e.h.mu.Lock()
	nv := len(e.h.vouchers)
	e.h.mu.Unlock()
	if nv != 1 {
		t.Fatalf("handler stored %d vouchers, want 1 (forged one must not reach it)", nv)
	}
}

func TestServerCloseEndsSessions(t *testing.T) {
	e := newEnv(t, nil)
	b := e.dial(t)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-b.Done()
	if pe := asError(t, b.Err()); pe.Code != CodeShutdown {
		t.Fatalf("buyer's error after the seller's shutdown: %v", b.Err())
	}
	if err := e.h.waitClosed(t); err == nil {
		t.Fatal("Closed(nil) after a shutdown")
	}
}

func TestNewerSessionSupersedes(t *testing.T) {
	e := newEnv(t, nil)
	first := e.dial(t)
	second := e.dial(t)
	<-first.Done()
	if pe := asError(t, first.Err()); pe.Code != CodeSuperseded {
		t.Fatalf("first session: %v", first.Err())
	}
	if err := e.srv.SendStatement(e.ch, Statement{Owed: 1}); err != nil {
		t.Fatal(err)
	}
	if st := <-second.Statements(); st.Owed != 1 {
		t.Fatalf("statement on the newer session: %+v", st)
	}
}
