package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/shard"
)

// TestShardSurvivesAKilledPrimary runs four `x402 replica` processes on
// loopback, kills the primary with SIGKILL under a load of transfers, and
// checks that every transfer completes exactly once, that the restarted
// replica catches up, and that all four agree (x402 shard status).
func TestShardSurvivesAKilledPrimary(t *testing.T) {
	payer, _ := keys.Generate()
	payee, _ := keys.Generate()
	sp := startShardProcesses(t, acc(payer).String()+"=100 USD")
	env, init, procs, g, c, start := sp.env, sp.init, sp.procs, sp.g, sp.c, sp.start
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const transfers = 40
	errs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range transfers {
			if _, err := ledger.SubmitBody(ctx, c, g.Ledger.Domain(), payer, ledger.Transfer{To: acc(payee), Asset: pay.USD, Amount: pay.Nano}); err != nil {
				errs <- fmt.Errorf("transfer %d: %w", i, err)
				return
			}
		}
	}()
	// Kill the primary of view 0 once the load is under way.
	testenv.Eventually(t, "the first transfers", func() bool {
		st, err := c.Account(ctx, acc(payee))
		return err == nil && st.Balances[pay.USD] > 0
	})
	procs[0].cmd.Process.Signal(syscall.SIGKILL)
	procs[0].cmd.Wait()
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := c.Account(ctx, acc(payee))
	if err != nil {
		t.Fatal(err)
	}
	if want := transfers * (pay.Nano - pay.FeeFor(pay.Nano, g.Ledger.FeePPM)); st.Balances[pay.USD] != want {
		t.Fatalf("payee holds %s after %d transfers, want %s (each exactly once)", st.Balances[pay.USD], transfers, want)
	}

	procs[0] = start(0)
	var status struct {
		Replicas []shard.ReplicaStatus `json:"replicas"`
	}
	testenv.Eventually(t, "all four replicas to agree", func() bool {
		mustJSON(t, &status, env, "shard", "status", "--genesis", init.Genesis, "--json")
		for _, r := range status.Replicas {
			if !r.Reachable || r.Executed != status.Replicas[0].Executed || r.Digest != status.Replicas[0].Digest {
				return false
			}
		}
		return true
	})
	if status.Replicas[0].View == 0 {
		t.Fatalf("no view change happened after the primary was killed: %+v", status.Replicas)
	}
	human := mustCLI(t, env, "shard", "status", "--genesis", init.Genesis)
	if !strings.Contains(human, "true") {
		t.Fatalf("shard status:\n%s", human)
	}
	out := mustCLI(t, env, "wallet", "balance", "--account", acc(payee).String(), "--genesis", init.Genesis)
	if !strings.Contains(out, "39.9996 USD") {
		t.Fatalf("wallet balance through the shard:\n%s", out)
	}
}

func TestBenchShardReportsFinality(t *testing.T) {
	var res shard.BenchResult
	mustJSON(t, &res, cleanEnv(t), "bench", "shard", "--duration", "1s", "--rate", "200", "--senders", "8", "--json")
	if res.Replicas != 4 || res.Committed == 0 || res.Failed != 0 || res.Submitted != res.Committed ||
		res.FinalityMsP50 <= 0 || res.FinalityMsP99 < res.FinalityMsP50 || res.TPS <= 0 || res.CPUUsPerTx <= 0 || res.AllocKBPerTx <= 0 {
		t.Fatalf("bench shard: %+v", res)
	}
	// With the primary stopped mid-load nothing fails: in-flight
	// transactions are retransmitted to the others and complete.
	var killed shard.BenchResult
	mustJSON(t, &killed, cleanEnv(t), "bench", "shard", "--duration", "3s", "--rate", "100", "--senders", "4", "--kill-primary-after", "500ms", "--json")
	if killed.Failed != 0 || killed.Committed == 0 || killed.PrimaryKilledToCommitMs <= 0 {
		t.Fatalf("bench shard with a killed primary: %+v", killed)
	}
}

// TestShardBackupCatchesUpAfterTruncation kills a backup, moves the shard
// far past its log (checkpoints every 16 sequence numbers truncate it),
// restarts it and checks it catches up; then freezes another replica's
// traffic (SIGSTOP) for a while and checks it catches up too.
func TestShardBackupCatchesUpAfterTruncation(t *testing.T) {
	payer, _ := keys.Generate()
	payee, _ := keys.Generate()
	sp := startShardProcesses(t, acc(payer).String()+"=1000 USD")
	env, init, procs, g, c, start := sp.env, sp.init, sp.procs, sp.g, sp.c, sp.start
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	transfer := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := ledger.SubmitBody(ctx, c, g.Ledger.Domain(), payer, ledger.Transfer{To: acc(payee), Asset: pay.USD, Amount: 1}); err != nil {
				t.Fatalf("transfer %d: %v", i, err)
			}
		}
	}
	agree := func(what string) []shard.ReplicaStatus {
		t.Helper()
		var status struct {
			Replicas []shard.ReplicaStatus `json:"replicas"`
		}
		testenv.Eventually(t, what, func() bool {
			mustJSON(t, &status, env, "shard", "status", "--genesis", init.Genesis, "--json")
			for _, r := range status.Replicas {
				if !r.Reachable || r.Executed != status.Replicas[0].Executed || r.Digest != status.Replicas[0].Digest {
					return false
				}
			}
			return true
		})
		return status.Replicas
	}

	procs[3].cmd.Process.Signal(syscall.SIGKILL)
	procs[3].cmd.Wait()
	transfer(3 * shard.CheckpointInterval) // past the window of 2 checkpoints: the log is truncated beyond replica 3
	procs[3] = start(3)
	sts := agree("the restarted backup to catch up")
	if sts[3].StableCheckpoint < 2*shard.CheckpointInterval {
		t.Fatalf("checkpoints did not advance past the backup: %+v", sts)
	}

	procs[2].cmd.Process.Signal(syscall.SIGSTOP) // its traffic stops, its sockets stay
	transfer(60)
	procs[2].cmd.Process.Signal(syscall.SIGCONT)
	agree("the frozen replica to catch up")
	st, err := c.Account(ctx, acc(payee))
	if err != nil {
		t.Fatal(err)
	}
	if want := pay.Amount(3*shard.CheckpointInterval + 60); st.Balances[pay.USD] != want { // 1-nano transfers: the 10 ppm fee rounds to 0
		t.Fatalf("payee holds %d nano after %d transfers, want %d", st.Balances[pay.USD], want, want)
	}
}

func acc(k ed25519.PrivateKey) pay.Account { return pay.AccountOf(k.Public().(ed25519.PublicKey)) }

// shardProcesses is a 4-replica shard of `x402 replica` processes and a
// ledger client of it.
type shardProcesses struct {
	env   []string
	init  shard.InitResult
	procs []*proc
	g     shard.Genesis
	c     *shard.LedgerClient
	start func(i int) *proc // (re)starts replica i
}

// startShardProcesses runs `x402 shard init` (no faucet; alloc funds an
// account) and one `x402 replica` process per replica.
func startShardProcesses(t *testing.T, alloc string) shardProcesses {
	t.Helper()
	sp := shardProcesses{env: cleanEnv(t)}
	mustJSON(t, &sp.init, sp.env, "shard", "init", "--replicas", "4", "--dir", t.TempDir()+"/shard", "--json", "--faucet", "", "--alloc", alloc)
	if len(sp.init.Replicas) != 4 {
		t.Fatalf("shard init: %+v", sp.init)
	}
	sp.start = func(i int) *proc {
		p := startProc(t, sp.env, "replica", "--config", sp.init.Replicas[i].Config, "--log-level", "info")
		waitForText(t, p, "replica started", 10*time.Second)
		return p
	}
	for i := range 4 {
		sp.procs = append(sp.procs, sp.start(i))
	}
	var err error
	if sp.g, err = shard.LoadGenesis(sp.init.Genesis); err != nil {
		t.Fatal(err)
	}
	if sp.c, err = shard.DialLedger(sp.g, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.c.Close() })
	return sp
}
