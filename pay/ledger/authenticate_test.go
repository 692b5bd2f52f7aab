package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

func receiptOf(t *testing.T, res []byte) txResult {
	t.Helper()
	tr, err := unmarshalTxResult(res)
	if err != nil {
		t.Fatalf("result %x: %v", res, err)
	}
	return tr
}

func TestAuthenticateRequestVerifiesEachTransactionOnce(t *testing.T) {
	g := testGenesis()
	r := NewReplicated(openTest(t, g), nil)
	at := time.Unix(1_700_000_000, 0)
	tx := Tx{From: buyerP.acct, Nonce: 1, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 5000}}.Sign(g.Domain(), buyerP.priv)
	op := encodeOp(opTx, at, tx.Marshal())

	// The reader goroutine's check and the event loop's both pass, and
	// Apply takes the result from the cache: one verification in all.
	for range 2 {
		if !r.AuthenticateRequest(buyerP.acct, 1, op) {
			t.Fatal("the account's own transaction at its nonce was not authentic")
		}
	}
	res := r.Apply(1, [][]byte{op})
	if tr := receiptOf(t, res[0]); tr.Err != "" || tr.Seq != 1 || tr.Tx != txID(tx.Marshal()) {
		t.Fatalf("receipt %+v", tr)
	}
	if n := r.SignatureChecks(); n != 1 {
		t.Fatalf("%d signature checks for one transaction, want 1", n)
	}

	// A replay is authentic (it is the account's) but the nonce refuses it,
	// still without a second verification.
	if !r.AuthenticateRequest(buyerP.acct, 1, op) {
		t.Fatal("replay not authentic")
	}
	if tr := receiptOf(t, r.Apply(2, [][]byte{op})[0]); !strings.Contains(tr.Err, "nonce 1 already used") || tr.Tx != txID(tx.Marshal()) {
		t.Fatalf("replayed transaction: %+v", tr)
	}
	if n := r.SignatureChecks(); n != 1 {
		t.Fatalf("%d signature checks after a replay, want 1", n)
	}

	// What the account did not sign for that request is not authentic.
	forged := Tx{From: buyerP.acct, Nonce: 2, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}.Sign(g.Domain(), sellerP.priv)
	other := Tx{From: buyerP.acct, Nonce: 2, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}.Sign(g.Domain(), buyerP.priv)
	wrongDomain := Tx{From: buyerP.acct, Nonce: 2, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}.Sign(pay.Domain{Chain: "other"}, buyerP.priv)
	for name, c := range map[string]struct {
		client pay.Account
		ts     uint64
		op     []byte
	}{
		"signed by another key":     {buyerP.acct, 2, encodeOp(opTx, at, forged.Marshal())},
		"signed for another domain": {buyerP.acct, 2, encodeOp(opTx, at, wrongDomain.Marshal())},
		"another client id":         {sellerP.acct, 2, encodeOp(opTx, at, other.Marshal())},
		"a timestamp not its nonce": {buyerP.acct, 3, encodeOp(opTx, at, other.Marshal())},
		"a read":                    {buyerP.acct, 2, encodeOp(opAccount, at, buyerP.acct[:])},
		"garbage":                   {buyerP.acct, 2, []byte("garbage")},
	} {
		if r.AuthenticateRequest(c.client, c.ts, c.op) {
			t.Errorf("%s: authentic", name)
		}
	}
	// A transaction that came in a signed request (not authenticated
	// here) is verified by Apply; a bad one is rejected.
	before := r.SignatureChecks()
	res = r.Apply(3, [][]byte{encodeOp(opTx, at, forged.Marshal()), encodeOp(opTx, at, other.Marshal())})
	if tr := receiptOf(t, res[0]); !strings.Contains(tr.Err, "signature") {
		t.Fatalf("forged transaction: %+v", tr)
	}
	if tr := receiptOf(t, res[1]); tr.Err != "" {
		t.Fatalf("transaction of a signed request: %+v", tr)
	}
	if n := r.SignatureChecks() - before; n != 2 {
		t.Fatalf("Apply verified %d uncached transactions, want 2", n)
	}
}

// unsignedApply is an UnsignedOrderer over one Replicated with the
// consensus core's exactly-once table for unsigned requests: the latest
// timestamp and result per client, a cached reply for that timestamp, an
// empty one for older ones; requests the application does not vouch for
// are never answered.
type unsignedApply struct {
	applyNow
	last             map[[32]byte]uint64
	cached           map[[32]byte][]byte
	unsigned, signed int
}

func (u *unsignedApply) Submit(ctx context.Context, op []byte) ([]byte, error) {
	if kind, _, _, _ := decodeOp(op); kind == opTx {
		u.signed++
	}
	return u.applyNow.Submit(ctx, op)
}

func (u *unsignedApply) SubmitUnsigned(ctx context.Context, client [32]byte, ts uint64, op []byte) ([]byte, error) {
	u.unsigned++
	if !u.r.AuthenticateRequest(client, ts, op) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	switch last := u.last[client]; {
	case ts == last:
		return u.cached[client], nil
	case ts < last:
		return nil, nil
	}
	res, _ := u.applyNow.Submit(ctx, op)
	u.last[client], u.cached[client] = ts, res
	return res, nil
}

func TestShardClientOrdersTransactionsAsUnsignedRequests(t *testing.T) {
	g := testGenesis()
	d := g.Domain()
	ctx := context.Background()
	newClient := func() (*ShardClient, *unsignedApply) {
		u := &unsignedApply{applyNow: applyNow{r: NewReplicated(openTest(t, g), nil)}, last: map[[32]byte]uint64{}, cached: map[[32]byte][]byte{}}
		c := NewShardClient(u, g)
		c.patience = time.Millisecond
		return c, u
	}
	pay1 := func(nonce uint64, amount pay.Amount) SignedTx {
		return Tx{From: buyerP.acct, Nonce: nonce, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: amount}}.Sign(d, buyerP.priv)
	}

	c, u := newClient()
	if rc, err := c.Submit(ctx, pay1(1, 100)); err != nil || rc.Err != "" || u.unsigned != 1 || u.signed != 0 {
		t.Fatalf("unsigned path: %+v, %v (unsigned %d, signed %d)", rc, err, u.unsigned, u.signed)
	}

	// A rejected transaction leaves its nonce free but takes the unsigned
	// (account, nonce) slot, whose cached reply would answer every retry:
	// so a rejection is ordered again the signed way, against the state of
	// now. The next transaction of that nonce gets the first one's
	// result, tells by its TxID, and goes the signed way too.
	c, u = newClient()
	if rc, err := c.Submit(ctx, pay1(1, 1000*pay.Nano)); err != nil || !strings.Contains(rc.Err, "insufficient") || u.signed != 1 {
		t.Fatalf("overdraft: %+v, %v (signed %d)", rc, err, u.signed)
	}
	if rc, err := c.Submit(ctx, pay1(1, 100)); err != nil || rc.Err != "" || u.signed != 2 {
		t.Fatalf("second transaction of nonce 1: %+v, %v (signed %d)", rc, err, u.signed)
	}

	// A retry of a transaction rejected earlier (a finalize that came too
	// early, here a nonce ahead) is applied once the state allows it, not
	// answered with the cached rejection.
	c, _ = newClient()
	ahead := pay1(2, 100)
	if rc, _ := c.Submit(ctx, ahead); !strings.Contains(rc.Err, "ahead") {
		t.Fatalf("nonce 2 first: %+v", rc)
	}
	if rc, err := c.Submit(ctx, pay1(1, 100)); err != nil || rc.Err != "" {
		t.Fatalf("nonce 1: %+v, %v", rc, err)
	}
	if rc, err := c.Submit(ctx, ahead); err != nil || rc.Err != "" || rc.Seq != 2 {
		t.Fatalf("retry of nonce 2 once it is due: %+v, %v; want it applied", rc, err)
	}

	// Nonces out of order: 2 executes (rejected, ahead) first, so 1 is
	// stale as unsigned; its nonce is free, so it goes the signed way.
	c, u = newClient()
	if rc, _ := c.Submit(ctx, pay1(2, 100)); !strings.Contains(rc.Err, "ahead") {
		t.Fatalf("nonce 2 first: %+v", rc)
	}
	if rc, err := c.Submit(ctx, pay1(1, 100)); err != nil || rc.Err != "" || u.signed != 2 { // 2: the rejection was ordered again
		t.Fatalf("stale nonce 1: %+v, %v (signed %d)", rc, err, u.signed)
	}

	// A stale request whose nonce is used: which transaction used it is
	// unknown, and Submit says so rather than guess.
	c, _ = newClient()
	first := pay1(1, 100)
	for _, tx := range []SignedTx{first, pay1(2, 100)} {
		if rc, err := c.Submit(ctx, tx); err != nil || rc.Err != "" {
			t.Fatalf("nonce %d: %+v, %v", tx.Nonce, rc, err)
		}
	}
	if _, err := c.Submit(ctx, first); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("stale transaction with a used nonce: %v", err)
	}

	// A badly signed transaction is never answered as unsigned; after the
	// patience, the client finds the signature bad itself and the ledger
	// rejects it with a receipt.
	c, u = newClient()
	bad := pay1(1, 100)
	bad.Sig[0] ^= 1
	if rc, err := c.Submit(ctx, bad); err != nil || !strings.Contains(rc.Err, "signature") || u.signed != 1 {
		t.Fatalf("bad signature: %+v, %v (signed %d)", rc, err, u.signed)
	}
}

// TestAuthenticateRequestsAnswersAsAuthenticateRequest: a batch of
// requests gets, request by request, AuthenticateRequest's answers, its
// transactions' signatures are checked once (together), and what verified
// is cached for the core's own check.
func TestAuthenticateRequestsAnswersAsAuthenticateRequest(t *testing.T) {
	g := testGenesis()
	d := g.Domain()
	at := time.Unix(1_700_000_000, 0)
	txs, valid := signedTxs(t, d, 20)
	var (
		clients    [][32]byte
		timestamps []uint64
		ops        [][]byte
	)
	add := func(client pay.Account, ts uint64, op []byte) {
		clients, timestamps, ops = append(clients, client), append(timestamps, ts), append(ops, op)
	}
	for _, tx := range txs {
		add(tx.From, tx.Nonce, encodeOp(opTx, at, tx.Marshal()))
	}
	good := txs[0]
	add(good.From, good.Nonce+1, encodeOp(opTx, at, good.Marshal()))  // a timestamp not its nonce
	add(sellerP.acct, good.Nonce, encodeOp(opTx, at, good.Marshal())) // another client
	add(buyerP.acct, 1, encodeOp(opAccount, at, buyerP.acct[:]))      // a read
	add(buyerP.acct, 1, []byte("garbage"))
	wantChecks := uint64(len(txs))

	r := NewReplicated(openTest(t, g), nil)
	got := r.AuthenticateRequests(clients, timestamps, ops)
	if n := r.SignatureChecks(); n != wantChecks {
		t.Fatalf("%d signature checks for a batch of %d transactions, want %d", n, len(txs), wantChecks)
	}
	fresh := NewReplicated(openTest(t, g), nil)
	for i := range ops {
		want := fresh.AuthenticateRequest(clients[i], timestamps[i], ops[i])
		if i < len(txs) && want != valid[i] {
			t.Fatalf("request %d: AuthenticateRequest says %v of a transaction whose signature is valid=%v", i, want, valid[i])
		}
		if got[i] != want {
			t.Fatalf("request %d: AuthenticateRequests says %v, AuthenticateRequest %v", i, got[i], want)
		}
	}
	// The core asks again: the valid ones are lookups, the invalid ones
	// (never cached) are checked again and refused again.
	for i := range txs {
		if r.AuthenticateRequest(clients[i], timestamps[i], ops[i]) != valid[i] {
			t.Fatalf("request %d: the second answer differs", i)
		}
	}
	if n := r.SignatureChecks() - wantChecks; n != uint64(len(txs)/2) {
		t.Fatalf("%d signature checks when the core asked again, want %d (the invalid ones)", n, len(txs)/2)
	}
}

// TestABadSignatureTurnsBatchChecksOffOnce: after a group with a bad
// signature the next is checked one by one (a sender of bad signatures
// costs one failed batch, not one per batch), and a clean group turns
// batch checks back on; the answers are the same either way.
func TestABadSignatureTurnsBatchChecksOffOnce(t *testing.T) {
	d := testGenesis().Domain()
	txs, valid := signedTxs(t, d, 16) // valid at even indexes
	var good []SignedTx
	for i, tx := range txs {
		if valid[i] {
			good = append(good, tx)
		}
	}
	check := func(c *sigCache, group []SignedTx) []bool {
		keys := make([][32]byte, len(group))
		for i, tx := range group {
			keys[i] = sha256.Sum256(tx.Marshal())
		}
		ok := make([]bool, len(group))
		c.verifyMany(d, group, keys, ok)
		return ok
	}
	c := newSigCache(newKeyCache())
	if ok := check(c, txs); !slices.Equal(ok, valid) || !c.distrust.Load() {
		t.Fatalf("a group with bad signatures: answers %v, want %v; one by one next: %v", ok, valid, c.distrust.Load())
	}
	again := newSigCache(newKeyCache())
	again.distrust.Store(true)
	if ok := check(again, txs); !slices.Equal(ok, valid) || !again.distrust.Load() {
		t.Fatalf("bad signatures checked one by one: answers %v, want %v; one by one next: %v", ok, valid, again.distrust.Load())
	}
	if check(c, nil); !c.distrust.Load() {
		t.Fatal("checking nothing turned batch checks back on")
	}
	if ok := check(c, good); slices.Contains(ok, false) || c.distrust.Load() {
		t.Fatalf("a clean group after a bad one: answers %v; one by one next: %v", ok, c.distrust.Load())
	}
}
