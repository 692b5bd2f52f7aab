package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/node"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/shard"
)

// The demo's terms.
const (
	demoPrice     pay.Amount = pay.Nano / 2 // 0.50 USD per GiB
	demoDeposit   pay.Amount = pay.Nano     // 1 USD
	demoFunds     pay.Amount = 10 * pay.Nano
	demoFeePPM               = 10 // 0.001%
	demoChallenge            = 200 * time.Millisecond
)

// demoParty is one key of the demo network.
type demoParty struct {
	key ed25519.PrivateKey
	acc pay.Account
}

func newDemoParty() (demoParty, error) {
	k, err := keys.Generate()
	if err != nil {
		return demoParty{}, err
	}
	return demoParty{k, pay.AccountOf(publicKey(k))}, nil
}

// demoNet is a whole local network: a ledger, a seller node with both
// proxies and payments, and a buyer agent with a local endpoint.
type demoNet struct {
	replicas []*shard.Member
	shard    *shard.LedgerClient
	seq      *timedLedger // the shard's ledger client, timing submissions
	node     *node.Node
	agent    *buyer.Agent
	seller   demoParty
	buyer    demoParty
	fee      demoParty
	password string // the seller's static demo buyer, for direct use
}

// startDemoNet starts the ledger, the seller node (allowing egress to
// allow only) and the buyer agent.
func startDemoNet(ctx context.Context, stateDir string, allow []string, log *slog.Logger) (*demoNet, error) {
	d := &demoNet{}
	var issuer demoParty
	for _, p := range []*demoParty{&d.seller, &d.buyer, &d.fee, &issuer} {
		var err error
		if *p, err = newDemoParty(); err != nil {
			return nil, err
		}
	}
	g := ledger.Genesis{
		Chain: "x402-demo", FeePPM: demoFeePPM, FeeAccount: d.fee.acc, Issuer: issuer.acc,
		Allocations:  []ledger.Allocation{{Account: d.buyer.acc, Asset: pay.USD, Amount: demoFunds}},
		Faucet:       &ledger.FaucetParams{Asset: pay.USD, Amount: demoFunds},
		MinChallenge: 50 * time.Millisecond, MaxChallenge: time.Hour,
	}
	// The ledger runs on a 4-replica PBFT shard (f = 1) on loopback.
	res, err := shard.Init(filepath.Join(stateDir, "shard"), demoReplicas, g, 0)
	if err != nil {
		return nil, err
	}
	for _, r := range res.Replicas {
		cfg, err := shard.LoadReplicaConfig(r.Config)
		if err != nil {
			d.close()
			return nil, err
		}
		m, err := shard.StartReplica(cfg, log)
		if err != nil {
			d.close()
			return nil, err
		}
		d.replicas = append(d.replicas, m)
	}
	sg, err := shard.LoadGenesis(res.Genesis)
	if err != nil {
		d.close()
		return nil, err
	}
	if d.shard, err = shard.DialLedger(sg, log); err != nil {
		d.close()
		return nil, err
	}
	d.seq = &timedLedger{Client: d.shard}

	if d.password, err = randomHex(12); err != nil {
		d.close()
		return nil, err
	}
	cfg := node.DefaultConfig()
	cfg.Node.StateDir = filepath.Join(stateDir, "seller")
	cfg.Proxy.SOCKS5Listen, cfg.Proxy.HTTPListen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	// Only the demo's own origin (plus --allow) may be reached: everything
	// else, this node's admin API included, stays denied.
	cfg.Egress.DefaultDeny = true
	cfg.Egress.Allow = allow
	cfg.Buyers = []node.BuyerEntry{{ID: "demo-static", User: "demo", Password: d.password}}
	cfg.Payments = node.PaymentsSection{Listen: "127.0.0.1:0", Asset: "USD", PricePerGiB: demoPrice.String(), ClaimThreshold: "0.001"}
	if err := cfg.Validate(); err != nil {
		d.close()
		return nil, fmt.Errorf("demo config: %w", err)
	}
	if d.node, err = node.Start(cfg, node.Options{Version: version, Logger: log, Key: d.seller.key, Ledger: d.seq}); err != nil {
		d.close()
		return nil, err
	}
	d.agent, err = buyer.StartAgent(ctx, buyer.AgentConfig{
		Key: d.buyer.key, Ledger: d.seq, SellerAddr: d.node.Addrs().Payments, Seller: d.seller.acc,
		Asset: pay.USD, Deposit: demoDeposit, Challenge: demoChallenge,
		Limits:       buyer.Limits{MaxPricePerGiB: pay.Nano},
		ListenSOCKS5: "127.0.0.1:0", ListenHTTP: "127.0.0.1:0", Logger: log,
	})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("buyer agent: %w", err)
	}
	return d, nil
}

// balance is an account's USD balance.
func (d *demoNet) balance(ctx context.Context, a pay.Account) pay.Amount {
	st, err := d.seq.Account(ctx, a)
	if err != nil {
		return 0
	}
	return st.Balances[pay.USD]
}

// close stops what is running (the agent is closed by the caller).
func (d *demoNet) close() {
	if d.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d.node.Shutdown(ctx)
		cancel()
	}
	if d.shard != nil {
		d.shard.Close()
	}
	for _, m := range d.replicas {
		m.Close()
	}
}

// demoReplicas is the demo shard's size: 3f+1 with f = 1.
const demoReplicas = 4

// timedLedger records how long each submitted transaction took to become
// final (f+1 matching replies).
type timedLedger struct {
	ledger.Client
	mu        sync.Mutex
	latencies []time.Duration
}

func (t *timedLedger) Submit(ctx context.Context, tx ledger.SignedTx) (ledger.Receipt, error) {
	start := time.Now()
	r, err := t.Client.Submit(ctx, tx)
	if err == nil {
		t.mu.Lock()
		t.latencies = append(t.latencies, time.Since(start))
		t.mu.Unlock()
	}
	return r, err
}

// finality returns the p50 and p99 submission latencies in milliseconds.
func (t *timedLedger) finality() (p50, p99 float64, n int) {
	t.mu.Lock()
	l := slices.Clone(t.latencies)
	t.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l)
	at := func(q float64) float64 {
		i := min(len(l)-1, int(q*float64(len(l))))
		return float64(l[i].Microseconds()) / 1000
	}
	return at(0.50), at(0.99), len(l)
}
