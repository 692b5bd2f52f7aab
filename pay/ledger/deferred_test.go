package ledger

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fileNonce reads a's nonce from the file itself, past any deferred writes.
func fileNonce(t *testing.T, l *Ledger, p party) uint64 {
	t.Helper()
	var n uint64
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = newView(tx).nonce(p.acct)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func openReplicaTest(t *testing.T) *Ledger {
	t.Helper()
	l, err := OpenReplica(filepath.Join(t.TempDir(), "ledger.db"), testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func applyTransfers(t *testing.T, l *Ledger, from party, nonces ...uint64) {
	t.Helper()
	var txs []SignedTx
	for _, n := range nonces {
		txs = append(txs, Tx{From: from.acct, Nonce: n, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1000}}.Sign(l.Domain(), from.priv))
	}
	for i, r := range l.ApplyBatch(txs, 1) {
		if r.Err != "" {
			t.Fatalf("transaction %d: %s", i, r.Err)
		}
	}
}

func TestReplicaLedgerDefersWritesUntilTheFileIsRead(t *testing.T) {
	l := openReplicaTest(t)
	applyTransfers(t, l, buyerP, 1, 2)
	applyTransfers(t, l, buyerP, 3) // applied over the first batch's writes in memory
	if n := fileNonce(t, l, buyerP); n != 0 {
		t.Fatalf("the file has nonce %d before anything read it, want the deferred writes in memory", n)
	}
	if n, err := l.Applied(); err != nil || n != 3 {
		t.Fatalf("Applied = %d, %v; want 3 (through the deferred writes)", n, err)
	}
	st, err := l.Account(buyerP.acct)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nonce != 3 || st.Balances[usd] != 10*1_000_000_000-3*1000 {
		t.Fatalf("account after three transfers: %+v", st)
	}
	if n := fileNonce(t, l, buyerP); n != 3 {
		t.Fatalf("the file has nonce %d after a read of an account, want 3", n)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestDeferredWritesReachTheFileAtTheirLimit(t *testing.T) {
	l := openReplicaTest(t)
	l.deferWrites(4) // a transfer writes a nonce, three balances and the count applied
	applyTransfers(t, l, buyerP, 1)
	if n := fileNonce(t, l, buyerP); n != 1 {
		t.Fatalf("the file has nonce %d, want the writes flushed at the limit", n)
	}
}

func TestRestoreReplacesDeferredWrites(t *testing.T) {
	l := openReplicaTest(t)
	applyTransfers(t, l, buyerP, 1)
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := l.Digest()
	applyTransfers(t, l, buyerP, 2, 3) // deferred
	if err := l.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got := l.Digest(); got != want {
		t.Fatal("after Restore the state is not the snapshot's: deferred writes survived it")
	}
	applyTransfers(t, l, buyerP, 2) // nonce 2 is next again
}
