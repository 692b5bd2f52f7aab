package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/node"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/pay/ledger"
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
	ledger   *ledger.Ledger
	seq      *ledger.Sequencer
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
	var err error
	if d.ledger, err = ledger.Open(filepath.Join(stateDir, "ledger.db"), g); err != nil {
		return nil, err
	}
	d.seq = ledger.NewSequencer(d.ledger, time.Now)

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
	if d.ledger != nil {
		d.ledger.Close()
	}
}
