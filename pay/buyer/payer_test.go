package buyer

import (
	"crypto/ed25519"
	"testing"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
)

var d = pay.Domain{Chain: "x402-test"}

func newPayer(t *testing.T, lim Limits) (*Payer, pay.Account) {
	key, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPayer(d, key, pay.ChannelID{1}, pay.Nano, pay.Nano/2, lim, 16<<10, 100)
	if err != nil {
		t.Fatal(err)
	}
	return p, pay.AccountOf(key.Public().(ed25519.PublicKey))
}

func TestPayerUsesVouchersThenTicksAndPaysExactlyAtTheEnd(t *testing.T) {
	p, buyer := newPayer(t, Limits{})
	tick := pay.OwedForBytes(16<<10, pay.Nano/2) // 7629 nano
	pm, err := p.Pay(50000, 0)
	if err != nil || pm.Voucher == nil || pm.Voucher.Cumulative != 50000 || pm.Voucher.Chain == nil || pm.TickIndex != 0 {
		t.Fatalf("first payment %+v, %v; want a voucher with a chain", pm, err)
	}
	if err := pm.Voucher.Verify(d, buyer); err != nil {
		t.Fatal(err)
	}
	root := pm.Voucher.Chain.Root
	pm, _ = p.Pay(50000+3*tick+5, 0)
	if pm.Voucher != nil || pm.TickIndex != 3 || pay.VerifyPreimage(root, pm.Preimage, 3, 100) != nil {
		t.Fatalf("second payment %+v: want tick 3 of the chain", pm)
	}
	if pm, _ := p.Pay(50000+3*tick+100, 0); !pm.IsZero() {
		t.Fatalf("less than a tick owed, yet paid %+v", pm)
	}
	pm, _ = p.Final(50000 + 3*tick + 100)
	if pm.Voucher == nil || pm.Voucher.Cumulative != 50000+3*tick+100 || pm.Voucher.Seq != 2 || pm.Voucher.Chain != nil {
		t.Fatalf("final payment %+v: want an exact voucher without chain", pm)
	}
	if p.Paid() != 50000+3*tick+100 {
		t.Fatalf("paid %d", p.Paid())
	}
	if pm, _ := p.Final(50000 + 3*tick + 100); !pm.IsZero() {
		t.Fatalf("the same final payment again: %+v", pm)
	}
}

// TestPayerPaysAheadWithTicksAndAsksItBackAtTheEnd: the prepayment travels
// as ticks beyond a voucher for what was billed, and the final voucher is
// for what was billed, below what was paid.
func TestPayerPaysAheadWithTicksAndAsksItBackAtTheEnd(t *testing.T) {
	p, _ := newPayer(t, Limits{})
	tick := pay.OwedForBytes(16<<10, pay.Nano/2)
	pm, err := p.Pay(50000, 10*tick+1)
	if err != nil || pm.Voucher == nil || pm.Voucher.Cumulative != 50000 || pm.TickIndex != 10 {
		t.Fatalf("first payment %+v, %v; want a voucher for the bill and 10 ticks ahead", pm, err)
	}
	if err := pay.VerifyPreimage(pm.Voucher.Chain.Root, pm.Preimage, 10, pm.Voucher.Chain.Length); err != nil {
		t.Fatalf("the ticks ahead do not verify: %v", err)
	}
	if p.Paid() != 50000+10*tick {
		t.Fatalf("paid %d, want %d", p.Paid(), 50000+10*tick)
	}
	if pm, _ := p.Pay(50000+tick, 9*tick); !pm.IsZero() {
		t.Fatalf("already paid that far ahead, yet paid %+v", pm)
	}
	pm, _ = p.Pay(50000+5*tick, 10*tick)
	if pm.Voucher != nil || pm.TickIndex != 15 {
		t.Fatalf("payment %+v: want tick 15", pm)
	}
	pm, _ = p.Final(50000 + 5*tick)
	if pm.Voucher == nil || pm.Voucher.Cumulative != 50000+5*tick || p.Paid() != 50000+5*tick {
		t.Fatalf("final payment %+v (paid %d): want exactly the bill, below the prepayment", pm, p.Paid())
	}
}

func TestPayerRefusesOverbillingAndCaps(t *testing.T) {
	p, _ := newPayer(t, Limits{MaxSpend: 100000, ToleranceBytes: 1024})
	// The seller bills for 1 MiB; the buyer counted 100 KiB.
	owed := pay.OwedForBytes(1<<20, pay.Nano/2)
	got := p.Payable(owed, 100<<10)
	if want := pay.OwedForBytes(100<<10+1024, pay.Nano/2); got != want {
		t.Fatalf("payable %d, want %d (own count + tolerance)", got, want)
	}
	if p.Billed() != owed {
		t.Fatalf("billed %d, want %d", p.Billed(), owed)
	}
	if got := p.Payable(pay.Nano, -1); got != 100000 {
		t.Fatalf("payable %d above the spend cap 100000", got)
	}
	pm, _ := p.Pay(90000, pay.Nano)
	if max, _ := pm.Voucher.MaxValue(); max > 100000 {
		t.Fatalf("the voucher's chain lets the seller redeem %d, above the cap", max)
	}
	if p.Paid() > 100000 {
		t.Fatalf("paid %d ahead, above the spend cap 100000", p.Paid())
	}
	if _, err := NewPayer(d, nil, pay.ChannelID{}, pay.Nano, pay.Nano, Limits{MaxPricePerGiB: pay.Nano / 2}, 1, 1); err == nil {
		t.Fatal("a price above the cap was accepted")
	}
}
