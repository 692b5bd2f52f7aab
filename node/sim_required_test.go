package node

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/sim"
)

// TestSellerMustBeSIMAnchored starts a seller against a ledger whose
// genesis requires SIM-anchored sellers: refused while unbound and while
// bound to a configured identity, started once bound to a SIM.
func TestSellerMustBeSIMAnchored(t *testing.T) {
	seller, fee := newParty(t), newParty(t)
	g := ledger.Genesis{Chain: "x402-test", FeePPM: 10, FeeAccount: fee.acc,
		MinChallenge: time.Second, MaxChallenge: time.Hour, RequireSIMForSellers: true}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	seq := ledger.NewSequencer(l, time.Now)
	origin := bytesOrigin(t)
	start := func() (*Node, error) {
		cfg := testConfig(t, origin)
		cfg.Payments = PaymentsSection{Listen: "127.0.0.1:0", Asset: "USD", PricePerGiB: "0.50", CreditWindow: 64 << 10, ClaimThreshold: "0.001"}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return Start(cfg, Options{Version: "test", Logger: testLog(), Key: seller.key, Ledger: seq})
	}
	if _, err := start(); err == nil || !strings.Contains(err.Error(), "requires SIM-anchored sellers and account "+seller.acc.String()+" is not bound to a SIM") {
		t.Fatalf("unbound seller: %v", err)
	}

	key := []byte("x402-test-commitment-key")
	register := func(id sim.Identity) {
		t.Helper()
		c, err := sim.NewClaim(sim.Domain{ChainID: g.Chain, ShardID: g.Shard}, seller.acc[:], id, key, seller.key)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.SubmitBody(t.Context(), seq, g.Domain(), seller.key, ledger.RegisterIdentity{Claim: raw}); err != nil {
			t.Fatal(err)
		}
	}
	register(sim.Identity{IMSI: "001010000000001", ICCID: "8900101000000000001", MCC: "001", MNC: "01", Source: sim.Source{Kind: sim.SourceConfig}})
	if _, err := start(); err == nil || !strings.Contains(err.Error(), "is bound to a config identity, not a SIM") {
		t.Fatalf("seller bound to a configured identity: %v", err)
	}

	// Move the binding away to a fresh key, and bind the seller to a SIM.
	spare := newParty(t)
	id := sim.Identity{IMSI: "001010000000001", ICCID: "8900101000000000001", MCC: "001", MNC: "01", Source: sim.Source{Kind: sim.SourceConfig}}
	nc, err := sim.NewClaim(sim.Domain{ChainID: g.Chain}, spare.acc[:], id, key, spare.key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := nc.MarshalBinary()
	if _, err := ledger.SubmitBody(t.Context(), seq, g.Domain(), seller.key, ledger.TransferBinding{To: spare.acc, NewClaim: raw}); err != nil {
		t.Fatal(err)
	}
	register(sim.Identity{IMSI: "262011106487504", ICCID: "8949020000123456789", MCC: "262", MNC: "01", Source: sim.Source{Kind: sim.SourcePCSC, Name: "reader"}})
	n, err := start()
	if err != nil {
		t.Fatalf("SIM-anchored seller: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Shutdown(ctx)
	if _, ok, _ := seq.Binding(ctx, spare.acc); !ok {
		t.Fatal("the moved binding is gone")
	}
}
