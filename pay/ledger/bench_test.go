package ledger

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/x402/x402/pay"
)

// benchBatch is how many transactions one commit (one fsync) carries, as a
// PBFT batch would.
const benchBatch = 512

// BenchmarkApply measures transfers applied per second on a real (fsynced)
// ledger file, in batches of benchBatch: with signatures verified in
// parallel on all cores (ApplyBatch), verified serially before applying,
// and applied one by one, each with its own commit (Apply).
func BenchmarkApply(b *testing.B) {
	b.Run("batch/parallel-verify", func(b *testing.B) {
		benchApply(b, func(l *Ledger, txs []SignedTx) []Receipt { return l.ApplyBatch(txs, 1) })
	})
	b.Run("batch/serial-verify", func(b *testing.B) {
		benchApply(b, func(l *Ledger, txs []SignedTx) []Receipt {
			for i := range txs {
				if err := txs[i].Verify(l.Domain()); err != nil {
					b.Fatal(err)
				}
			}
			return l.ApplyVerifiedBatch(txs, 1)
		})
	})
	b.Run("one-commit-per-tx", func(b *testing.B) {
		benchApply(b, func(l *Ledger, txs []SignedTx) []Receipt {
			rs := make([]Receipt, len(txs))
			for i := range txs {
				rs[i] = l.Apply(txs[i], 1)
			}
			return rs
		})
	})
}

func benchApply(b *testing.B, apply func(*Ledger, []SignedTx) []Receipt) {
	l, err := Open(filepath.Join(b.TempDir(), "ledger.db"), testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	d := l.Domain()
	txs := make([]SignedTx, b.N)
	for i := range txs {
		txs[i] = Tx{From: buyerP.acct, Nonce: uint64(i + 1), Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 100_000}}.Sign(d, buyerP.priv)
	}
	b.ResetTimer()
	for start := 0; start < len(txs); start += benchBatch {
		for _, r := range apply(l, txs[start:min(start+benchBatch, len(txs))]) {
			if r.Err != "" {
				b.Fatal(r.Err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	if got := balance(b, l, sellerP.acct, usd); got != pay.Amount(b.N)*(100_000-1) {
		b.Fatalf("seller balance %d after %d transfers", got, b.N)
	}
}

// BenchmarkSequencerSubmit measures Submit from many concurrent
// submitters (group commit: one fsync per batch of queued transactions).
func BenchmarkSequencerSubmit(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "ledger.db"), testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	seq := NewSequencer(l, nil)
	d := l.Domain()
	txs := make(chan SignedTx, b.N)
	for i := range b.N {
		// Independent transactions (each from its own new account), so they
		// apply in whatever order the submitters reach the sequencer.
		var seed [32]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		priv := ed25519.NewKeyFromSeed(seed[:])
		txs <- Tx{From: pay.AccountOf(priv.Public().(ed25519.PublicKey)), Nonce: 1, Body: Faucet{Asset: usd}}.Sign(d, priv)
	}
	close(txs)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := seq.Submit(b.Context(), <-txs); err != nil || r.Err != "" {
				b.Errorf("submit: %v %s", err, r.Err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
}

// BenchmarkCheckpointState measures what a shard replica does to the
// ledger at every checkpoint, the state digest and the snapshot, against
// the number of funded accounts: both read the whole state, so a
// checkpoint costs time (and the snapshot bytes it stores) in proportion
// to the ledger's size.
func BenchmarkCheckpointState(b *testing.B) {
	for _, accounts := range []int{256, 4096, 32768} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			g := testGenesis()
			for i := range accounts {
				var seed [ed25519.SeedSize]byte
				binary.BigEndian.PutUint64(seed[:], uint64(i)+1)
				pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
				g.Allocations = append(g.Allocations, Allocation{Account: pay.AccountOf(pub), Asset: usd, Amount: pay.Nano})
			}
			l := openTest(b, g)
			var size int
			for b.Loop() {
				_ = l.Digest()
				s, err := l.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				size = len(s)
			}
			b.ReportMetric(float64(size), "snapshot-bytes")
		})
	}
}

// BenchmarkApplyVerifiedBatch measures what a shard replica's ledger does
// per transaction: batches of 128 transfers already verified, from 256
// senders in turn to one payee, in a file that is not fsynced (OpenReplica).
func BenchmarkApplyVerifiedBatch(b *testing.B) {
	const senders, batch = 256, 128
	g := testGenesis()
	parties := make([]party, senders)
	for i := range parties {
		var seed [ed25519.SeedSize]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i)+1000)
		priv := ed25519.NewKeyFromSeed(seed[:])
		parties[i] = party{priv: priv, acct: pay.AccountOf(priv.Public().(ed25519.PublicKey))}
		g.Allocations = append(g.Allocations, Allocation{Account: parties[i].acct, Asset: usd, Amount: pay.Nano})
	}
	l := openTest(b, g)
	txs := make([]SignedTx, b.N)
	for i := range txs {
		p := parties[i%senders]
		txs[i] = SignedTx{Tx: Tx{From: p.acct, Nonce: uint64(i/senders + 1), Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for start := 0; start < len(txs); start += batch {
		for _, r := range l.ApplyVerifiedBatch(txs[start:min(start+batch, len(txs))], 1) {
			if r.Err != "" {
				b.Fatal(r.Err)
			}
		}
	}
}
