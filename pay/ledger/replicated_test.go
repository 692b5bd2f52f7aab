package ledger

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// applyNow is an Orderer that applies each op at once as a one-op batch of
// one replica: it exercises the op codec and the adapter, not consensus
// (the shard's own tests run a real cluster).
type applyNow struct {
	r   *Replicated
	seq uint64
}

func (a *applyNow) Submit(_ context.Context, op []byte) ([]byte, error) {
	a.seq++
	return a.r.Apply(a.seq, [][]byte{op})[0], nil
}

func TestShardClientRoundTripsThroughTheReplicatedLedger(t *testing.T) {
	g := testGenesis()
	c := NewShardClient(&applyNow{r: NewReplicated(openTest(t, g), nil)}, g)
	ctx := context.Background()
	r, err := SubmitBody(ctx, c, g.Domain(), buyerP.priv, Transfer{To: sellerP.acct, Asset: usd, Amount: pay.Nano})
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 1 {
		t.Fatalf("receipt %+v", r)
	}
	st, err := c.Account(ctx, sellerP.acct)
	if err != nil || st.Balances[usd] != pay.Nano-pay.FeeFor(pay.Nano, 10) {
		t.Fatalf("seller account %+v, %v", st, err)
	}
	if _, err := c.Channel(ctx, pay.ChannelID{9}); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, bound, err := c.Binding(ctx, sellerP.acct); err != nil || bound {
		t.Fatalf("binding of an unbound account: %v, %v", bound, err)
	}
	// A replayed transaction is refused with the ledger's error.
	tx := Tx{From: buyerP.acct, Nonce: 1, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}.Sign(g.Domain(), buyerP.priv)
	if r, err := c.Submit(ctx, tx); err != nil || !strings.Contains(r.Err, "nonce") {
		t.Fatalf("replay: %+v, %v", r, err)
	}
}

func TestReplicatedIsDeterministicAndRejectsGarbage(t *testing.T) {
	g := testGenesis()
	a, b := NewReplicated(openTest(t, g), nil), NewReplicated(openTest(t, g), nil)
	at := time.Unix(1_700_000_000, 0)
	batch := [][]byte{
		encodeOp(opTx, at, Tx{From: buyerP.acct, Nonce: 1, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 5000}}.Sign(g.Domain(), buyerP.priv).Marshal()),
		encodeOp(opAccount, at, sellerP.acct[:]),
		[]byte("garbage"),
		encodeOp(opTx, at, []byte("not a tx")),
		encodeOp(99, at, nil),
	}
	ra, rb := a.Apply(1, batch), b.Apply(1, batch)
	for i := range batch {
		if !bytes.Equal(ra[i], rb[i]) {
			t.Fatalf("op %d: results differ:\n%s\n%s", i, ra[i], rb[i])
		}
	}
	if a.Digest() != b.Digest() {
		t.Fatal("digests differ after the same batch")
	}
	if tr := receiptOf(t, ra[0]); tr.Seq != 1 || tr.Err != "" {
		t.Errorf("op 0: %+v, want applied as the first transaction", tr)
	}
	if tr := receiptOf(t, ra[3]); !strings.Contains(tr.Err, "decode") || tr.Tx != [32]byte{} {
		t.Errorf("op 3: %+v, want a decoding error and no transaction id", tr)
	}
	for i, want := range map[int]string{1: `"present":true`, 2: "decode op", 4: "unknown op kind"} {
		if !strings.Contains(string(ra[i]), want) {
			t.Errorf("op %d result %s lacks %q", i, ra[i], want)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	g := testGenesis()
	src, dst := openTest(t, g), openTest(t, g)
	buyerP.must(t, src, 1, Transfer{To: sellerP.acct, Asset: usd, Amount: 777})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	before := dst.Digest()
	if err := dst.Restore(snap[:len(snap)-3]); err == nil {
		t.Fatal("a truncated snapshot was restored")
	}
	if dst.Digest() != before {
		t.Fatal("a failed restore changed the state")
	}
	if err := dst.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if dst.Digest() != src.Digest() {
		t.Fatal("restored state differs from the snapshot's source")
	}
	if err := dst.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	other := testGenesis()
	other.Chain = "x402-other"
	if err := openTest(t, other).Restore(snap); err == nil || !strings.Contains(err.Error(), "different genesis") {
		t.Fatalf("restore into another genesis: %v", err)
	}
}
