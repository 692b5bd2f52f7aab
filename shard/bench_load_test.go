package shard

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/x402/x402/consensus/runtime/transport"
	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// TestSenderLoadNonces: signed-ahead transactions come out in nonce order,
// a rejected one is handed out again, and past the supply the load signs
// the next nonces itself.
func TestSenderLoadNonces(t *testing.T) {
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	d := pay.Domain{Chain: "test"}
	ld := &senderLoad{key: k, d: d, body: ledger.Transfer{Asset: pay.USD, Amount: 1}, nonce: 5}
	ld.from = pay.AccountOf(k.Public().(ed25519.PublicKey))
	for n := range uint64(2) {
		ld.signed = append(ld.signed, ledger.Tx{From: ld.from, Nonce: 6 + n, Body: ld.body}.Sign(d, k))
	}
	var got []uint64
	for i := range 4 {
		tx := ld.next()
		if err := tx.Verify(d); err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		got = append(got, tx.Nonce)
		if i == 1 {
			ld.unuse(tx)
		}
	}
	want := []uint64{6, 7, 7, 8}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("nonces %v, want %v", got, want)
		}
	}
}

func TestDefaultSenders(t *testing.T) {
	if got := defaultSenders(0, 0); got != saturateSenders {
		t.Fatalf("as fast as possible: %d senders, want %d", got, saturateSenders)
	}
	if got := defaultSenders(10, 0); got != minSenders {
		t.Fatalf("10/s: %d senders, want %d", got, minSenders)
	}
	if got := defaultSenders(1000, 25*time.Millisecond); got != 350 {
		t.Fatalf("1000/s at 25 ms: %d senders, want 350", got)
	}
	if got := defaultSenders(20000, 100*time.Millisecond); got != transport.MaxAttach {
		t.Fatalf("20000/s at 100 ms: %d senders, want the %d one connection carries", got, transport.MaxAttach)
	}
}

func TestPacerSlots(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(start, 1000)
	for i := range 3 {
		if got, want := p.slot(), start.Add(time.Duration(i)*time.Millisecond); !got.Equal(want) {
			t.Fatalf("slot %d at %v, want %v", i, got, want)
		}
	}
}
