package node

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/proxy"
	"github.com/x402/x402/shard"
)

// TestNodeRunsAReplicaAndSettlesOnTheShard runs a seller node that is
// also replica 0 of a 4-replica shard and settles its payments there.
func TestNodeRunsAReplicaAndSettlesOnTheShard(t *testing.T) {
	seller, buyerP, fee := newParty(t), newParty(t), newParty(t)
	lg := ledger.Genesis{Chain: "x402-node-shard", FeePPM: 10, FeeAccount: fee.acc, Issuer: fee.acc,
		Allocations:  []ledger.Allocation{{Account: buyerP.acc, Asset: pay.USD, Amount: 10 * pay.Nano}},
		MinChallenge: 10 * time.Millisecond, MaxChallenge: time.Hour}
	res, err := shard.Init(filepath.Join(t.TempDir(), "shard"), 4, lg, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Replicas[1:] {
		rc, err := shard.LoadReplicaConfig(r.Config)
		if err != nil {
			t.Fatal(err)
		}
		m, err := shard.StartReplica(rc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
	}
	org := bytesOrigin(t)
	cfg := testConfig(t, org)
	cfg.Replica.Config = res.Replicas[0].Config
	cfg.Payments = PaymentsSection{Listen: "127.0.0.1:0", Genesis: res.Genesis, Asset: "USD", PricePerGiB: "0.50", ClaimThreshold: "0.001"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := Start(cfg, Options{Version: "test", Logger: slog.New(slog.DiscardHandler), Key: seller.key})
	if err != nil {
		t.Fatal(err)
	}
	defer stopNode(t, n)
	if n.member == nil {
		t.Fatal("the node did not start its replica")
	}

	g, _ := shard.LoadGenesis(res.Genesis)
	lc, err := shard.DialLedger(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	agent, err := buyer.StartAgent(ctx, buyer.AgentConfig{
		Key: buyerP.key, Ledger: lc, SellerAddr: n.Addrs().Payments, Seller: seller.acc,
		Asset: pay.USD, Deposit: pay.Nano, Challenge: 50 * time.Millisecond,
		ListenSOCKS5: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	socks, _, user, pass := agent.LocalEndpoints()
	c, err := proxy.DialSOCKS5(ctx, socks, user, pass, "127.0.0.1", portOf(org))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /bytes/"+strconv.Itoa(2<<20)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	io.Copy(io.Discard, c)
	c.Close()
	s, err := agent.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Cooperative || s.Paid == 0 || s.Settled != s.Paid || s.Refund != pay.Nano-s.Paid {
		t.Fatalf("settlement on the shard: %+v", s)
	}
	st, err := lc.Account(ctx, seller.acc)
	if err != nil || st.Balances[pay.USD] == 0 {
		t.Fatalf("seller balance on the shard: %+v, %v", st, err)
	}
}
