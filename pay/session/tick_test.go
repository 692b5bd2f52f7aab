package session

import (
	"context"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

func TestTickVerifier(t *testing.T) {
	chain, err := pay.NewHashChain(100)
	if err != nil {
		t.Fatal(err)
	}
	c := &pay.ChainCommit{Root: chain.Root(), TickValue: 1, Length: 100}
	v := tickVerifier{session: 7}
	tk := func(seq uint64, i uint32) tick {
		return tick{Session: 7, VoucherSeq: seq, Index: i, Preimage: chain.Preimage(int(i))}
	}
	expect := func(what string, got, want tickResult) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: result %d, want %d", what, got, want)
		}
	}
	expect("before any voucher", v.check(tk(1, 1)), tickStale)
	v.accept(pay.Voucher{Seq: 1, Chain: c})
	expect("next", v.check(tk(1, 1)), tickValid)
	expect("duplicate", v.check(tk(1, 1)), tickStale)
	expect("skip to 10", v.check(tk(1, 10)), tickValid)
	expect("older", v.check(tk(1, 5)), tickStale)
	bad := tk(1, 11)
	bad.Preimage[0] ^= 1
	expect("wrong preimage", v.check(bad), tickInvalid)
	far := tk(1, 50)
	far.Preimage = chain.Preimage(49)
	expect("preimage of another index", v.check(far), tickInvalid)
	expect("beyond the chain", v.check(tick{Session: 7, VoucherSeq: 1, Index: 101}), tickInvalid)
	expect("index zero", v.check(tick{Session: 7, VoucherSeq: 1}), tickInvalid)
	other := tk(1, 11)
	other.Session = 8
	expect("other session", v.check(other), tickInvalid)
	expect("other voucher", v.check(tk(2, 11)), tickStale)
	expect("to the end", v.check(tk(1, 100)), tickValid)

	v.accept(pay.Voucher{Seq: 1, Chain: c})
	expect("re-accepted voucher keeps progress", v.check(tk(1, 100)), tickStale)
	v.accept(pay.Voucher{Seq: 2})
	expect("voucher without chain", v.check(tk(2, 1)), tickStale)
	v.accept(pay.Voucher{Seq: 3, Chain: c})
	expect("new voucher starts over", v.check(tk(3, 1)), tickValid)

	if st := v.Stats(); st != (TickStats{Valid: 4, Stale: 6, Invalid: 5}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestInvalidTicksIgnored(t *testing.T) {
	e := newEnv(t, nil)
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 10
	chain, err := pay.NewHashChain(n)
	if err != nil {
		t.Fatal(err)
	}
	v := pay.Voucher{Channel: e.ch, Cumulative: 100, Seq: 1, Chain: &pay.ChainCommit{Root: chain.Root(), TickValue: 10, Length: n}}
	if _, err := b.SendVoucher(ctx, v.Sign(testDomain, e.buyerKey)); err != nil {
		t.Fatal(err)
	}
	wrong := chain.Preimage(1)
	wrong[31] ^= 0xFF
	stats := func() TickStats { st, _ := e.srv.TickStats(e.ch); return st }
	send := func() {
		_ = b.SendTick(1, 1, wrong)             // does not hash to the root
		_ = b.SendTick(1, n+1, wrong)           // beyond the chain
		_ = b.SendTick(1, 3, chain.Preimage(3)) // skips 1 and 2: verified by hashing down
	}
	send()
	waitUntil(t, e.h, "the valid tick and an invalid one", func() bool {
		return e.h.maxTick() == 3 && stats().Invalid >= 1
	}, send)
	for _, c := range e.h.tickCalls() {
		if c.ticks != 3 || c.preimage != chain.Preimage(3) {
			t.Fatalf("handler got tick %+v", c)
		}
	}
	if b.Err() != nil {
		t.Fatalf("a few invalid ticks ended the session: %v", b.Err())
	}
}

func TestFloodOfInvalidTicksEndsSession(t *testing.T) {
	e := newEnv(t, nil)
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chain, err := pay.NewHashChain(4)
	if err != nil {
		t.Fatal(err)
	}
	v := pay.Voucher{Channel: e.ch, Seq: 1, Chain: &pay.ChainCommit{Root: chain.Root(), TickValue: 1, Length: 4}}
	if _, err := b.SendVoucher(ctx, v.Sign(testDomain, e.buyerKey)); err != nil {
		t.Fatal(err)
	}
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for done := false; !done; {
		for range 16 {
			_ = b.SendTick(1, 1, [32]byte{1})
		}
		select {
		case <-b.Done():
			done = true
		case <-tk.C:
		case <-ctx.Done():
			t.Fatal("session survived a flood of invalid ticks")
		}
	}
	if pe := asError(t, b.Err()); pe.Code != CodeProtocol {
		t.Fatalf("buyer's error: %v", b.Err())
	}
}
