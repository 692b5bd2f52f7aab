package shard

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestShardRunsTheLedger starts the four replicas of a new shard in this
// process on loopback, moves money through a ledger client of the shard,
// restarts a backup (its ledger file is rebuilt from its consensus log, no
// checkpoint being stable yet), and checks that every replica executed the
// same history.
func TestShardRunsTheLedger(t *testing.T) {
	payer, _ := keys.Generate()
	payee, _ := keys.Generate()
	acc := func(k ed25519.PrivateKey) pay.Account { return pay.AccountOf(k.Public().(ed25519.PublicKey)) }
	lg := ledgerGenesis()
	lg.Allocations = []ledger.Allocation{{Account: acc(payer), Asset: pay.USD, Amount: 10 * pay.Nano}}
	dir := filepath.Join(t.TempDir(), "shard")
	res, err := Init(dir, 4, lg, 0)
	if err != nil {
		t.Fatal(err)
	}
	var members []*Member
	var cfgs []ReplicaConfig
	for _, r := range res.Replicas {
		cfg, err := LoadReplicaConfig(r.Config)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
		m, err := StartReplica(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	defer func() {
		for _, m := range members {
			m.Close()
		}
	}()
	g, _ := LoadGenesis(res.Genesis)
	c, err := DialLedger(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 {
		if i == 3 {
			if err := members[3].Close(); err != nil {
				t.Fatal(err)
			}
			if members[3], err = StartReplica(cfgs[3], slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("restart replica 3: %v", err)
			}
		}
		if _, err := ledger.SubmitBody(ctx, c, lg.Domain(), payer, ledger.Transfer{To: acc(payee), Asset: pay.USD, Amount: pay.Nano / 10}); err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
	}
	st, err := c.Account(ctx, acc(payee))
	if err != nil {
		t.Fatal(err)
	}
	want := 5 * (pay.Nano/10 - pay.FeeFor(pay.Nano/10, lg.FeePPM))
	if st.Balances[pay.USD] != want {
		t.Fatalf("payee holds %s, want %s", st.Balances[pay.USD], want)
	}
	testenv.Eventually(t, "every replica to execute the same history", func() bool {
		sts, err := QueryStatus(ctx, g, 2*time.Second)
		if err != nil {
			return false
		}
		for _, s := range sts {
			if !s.Reachable || s.Executed != sts[0].Executed {
				return false
			}
		}
		return true
	})
	d0 := members[0].ledger.Digest()
	for i, m := range members {
		if m.ledger.Digest() != d0 {
			t.Fatalf("replica %d's ledger digest differs from replica 0's", i)
		}
		if err := m.ledger.CheckInvariants(); err != nil {
			t.Fatalf("replica %d: ledger invariants: %v", i, err)
		}
	}
}
