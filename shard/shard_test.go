package shard

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
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
	// Ledger time is the replicas' clock (their signed reports), so a
	// close's challenge period starts now and ends a second later.
	open, err := ledger.SubmitBody(ctx, c, lg.Domain(), payer, ledger.OpenChannel{Seller: acc(payee), Asset: pay.USD, Deposit: pay.Nano, Challenge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := ledger.SubmitBody(ctx, c, lg.Domain(), payer, ledger.StartClose{Channel: open.Channel}); err != nil {
		t.Fatalf("start close: %v", err)
	}
	ch, err := c.Channel(ctx, open.Channel)
	if closeAt := time.Unix(0, ch.CloseAt); err != nil || closeAt.Before(before.Add(time.Second-time.Minute)) || closeAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("challenge period ends at %v (%v); want about a second after %v", closeAt, err, before)
	}
	testenv.Eventually(t, "the close to finalize once the replicas' clocks pass the challenge period", func() bool {
		r, err := ledger.SubmitBody(ctx, c, lg.Domain(), payer, ledger.Finalize{Channel: open.Channel})
		return err == nil && r.Refund == pay.Nano
	})
	// Replicas keep ordering their clock reports: compare them when all
	// have executed the same sequence.
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
		for _, m := range members {
			if m.ledger.Digest() != members[0].ledger.Digest() {
				return false
			}
		}
		return true
	})
	for i, m := range members {
		if err := m.ledger.CheckInvariants(); err != nil {
			t.Fatalf("replica %d: ledger invariants: %v", i, err)
		}
	}
}

// TestShardVerifiesEachTransactionOnce: a ledger client of the shard
// orders its transactions as unsigned requests of their accounts, so each
// replica checks one signature per transaction (the transaction's, on a
// transport goroutine) and neither a request signature nor the
// transaction's again when it executes.
func TestShardVerifiesEachTransactionOnce(t *testing.T) {
	payer, _ := keys.Generate()
	payee, _ := keys.Generate()
	acc := func(k ed25519.PrivateKey) pay.Account { return pay.AccountOf(k.Public().(ed25519.PublicKey)) }
	lg := ledgerGenesis()
	lg.Allocations = []ledger.Allocation{{Account: acc(payer), Asset: pay.USD, Amount: 10 * pay.Nano}}
	res, err := Init(filepath.Join(t.TempDir(), "shard"), 4, lg, 0)
	if err != nil {
		t.Fatal(err)
	}
	var members []*Member
	defer func() {
		for _, m := range members {
			m.Close()
		}
	}()
	for _, r := range res.Replicas {
		cfg, err := LoadReplicaConfig(r.Config)
		if err != nil {
			t.Fatal(err)
		}
		m, err := StartReplica(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	g, _ := LoadGenesis(res.Genesis)
	c, err := DialLedger(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 12
	var last ledger.SignedTx
	for i := range uint64(n) {
		last = ledger.Tx{From: acc(payer), Nonce: i + 1, Body: ledger.Transfer{To: acc(payee), Asset: pay.USD, Amount: pay.Nano / 100}}.Sign(lg.Domain(), payer)
		if rc, err := c.Submit(ctx, last); err != nil || rc.Err != "" || rc.Seq != i+1 {
			t.Fatalf("transfer %d: %+v, %v", i, rc, err)
		}
	}
	// A replayed transaction is refused by its nonce (its cached reply).
	if rc, err := c.Submit(ctx, last); err != nil || rc.Seq != n {
		t.Fatalf("replay of the last transaction: %+v, %v", rc, err)
	}
	// Another transaction of the last nonce gets the first one's result,
	// tells by its id, and is rejected the signed way; one of an older
	// nonce cannot tell whether it was the one that used it.
	other := func(nonce uint64) ledger.SignedTx {
		return ledger.Tx{From: acc(payer), Nonce: nonce, Body: ledger.Transfer{To: acc(payee), Asset: pay.USD, Amount: 1}}.Sign(lg.Domain(), payer)
	}
	if rc, err := c.Submit(ctx, other(n)); err != nil || !strings.Contains(rc.Err, "already used") {
		t.Fatalf("another transaction of the last nonce: %+v, %v", rc, err)
	}
	if _, err := c.Submit(ctx, other(3)); !errors.Is(err, ledger.ErrUnknownOutcome) {
		t.Fatalf("another transaction of an old nonce: %v", err)
	}
	testenv.Eventually(t, "every replica to execute every transaction", func() bool {
		for _, m := range members {
			if st, err := m.ledger.Account(acc(payer)); err != nil || st.Nonce != n {
				return false
			}
		}
		return true
	})
	for i, m := range members {
		// n transactions and two more with used nonces (the one that
		// went the signed way is still in the cache when it executes); two reader
		// goroutines racing to check the same transaction (the client's
		// copy and the pre-prepare's) may both verify it, rarely.
		if got := m.app.SignatureChecks(); got < n+2 || got >= 2*(n+2) {
			t.Errorf("replica %d checked %d transaction signatures for %d transactions, want one each", i, got, n+2)
		}
		if bad := m.Status().Metrics.BadSignature; bad != 0 {
			t.Errorf("replica %d counted %d bad signatures", i, bad)
		}
	}
}
