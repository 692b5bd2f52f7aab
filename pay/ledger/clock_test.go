package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// clockShard is a Replicated ledger of a four-replica shard (f = 1) fed one
// batch at a time, as a replica's consensus core would.
type clockShard struct {
	t    *testing.T
	g    Genesis
	r    *Replicated
	keys []party
	seq  uint64
}

func newClockShard(t *testing.T) *clockShard {
	g := testGenesis()
	keys := []party{newParty(11), newParty(12), newParty(13), newParty(14)}
	var pubs []ed25519.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.priv.Public().(ed25519.PublicKey))
	}
	return &clockShard{t: t, g: g, r: NewReplicated(openTest(t, g), pubs), keys: keys}
}

func (s *clockShard) apply(ops ...[]byte) [][]byte {
	s.seq++
	return s.r.Apply(s.seq, ops)
}

// report is replica id's clock report at t, as the op its runtime submits.
func (s *clockShard) report(id uint32, t time.Time) []byte {
	client, ts, op := ClockOp(s.g.Domain(), s.keys[id].priv, id, t)
	if !s.r.AuthenticateRequest(client, ts, op) {
		s.t.Fatalf("replica %d's own clock report is not authentic", id)
	}
	return op
}

// tx is p's transaction with nonce, stamped with a client clock at.
func (s *clockShard) tx(p party, nonce uint64, at time.Time, b Body) []byte {
	return encodeOp(opTx, at, Tx{From: p.acct, Nonce: nonce, Body: b}.Sign(s.g.Domain(), p.priv).Marshal())
}

func (s *clockShard) receipt(res []byte) Receipt {
	s.t.Helper()
	return receiptOf(s.t, res).Receipt
}

// TestLedgerTimeComesFromTheReplicasClocks: a buyer whose own clock runs a
// day ahead cannot finalize its channel before the challenge period has
// passed on the replicas' clocks; neither can one Byzantine replica
// (f = 1) push the ledger's time forward; a close waits until f+1 replicas
// have reported their clocks.
func TestLedgerTimeComesFromTheReplicasClocks(t *testing.T) {
	s := newClockShard(t)
	t0 := time.Unix(1_800_000_000, 0)
	future := t0.Add(24 * time.Hour)
	challenge := 10 * time.Second
	open := s.receipt(s.apply(s.tx(buyerP, 1, t0, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: pay.Nano, Challenge: challenge}))[0])
	if open.Err != "" {
		t.Fatalf("open: %s", open.Err)
	}
	id := open.Channel

	// No clock yet, then one replica's: not enough to start a close.
	for i, ops := range [][][]byte{nil, {s.report(0, t0)}} {
		ops = append(ops, s.tx(buyerP, 2, future, StartClose{Channel: id}))
		if r := s.receipt(s.apply(ops...)[len(ops)-1]); !strings.Contains(r.Err, "clock is not established") {
			t.Fatalf("close with %d clock reports: %+v; want it refused", i, r)
		}
	}
	// A second replica reports: the ledger's time is t0, the buyer's clock is ignored.
	res := s.apply(s.report(1, t0.Add(time.Second)), s.tx(buyerP, 2, future, StartClose{Channel: id}))
	if r := s.receipt(res[1]); r.Err != "" {
		t.Fatalf("start close: %s", r.Err)
	}
	ch, err := s.r.l.Channel(id)
	if err != nil || ch.CloseAt != t0.Add(challenge).UnixNano() {
		t.Fatalf("close at %d, %v; want t0 + challenge = %d (the replicas' clock, not the buyer's)", ch.CloseAt, err, t0.Add(challenge).UnixNano())
	}
	// The buyer finalizes at once with its clock a day ahead, and a
	// Byzantine replica backs it with a report a day ahead: refused.
	res = s.apply(s.report(3, future), s.tx(buyerP, 3, future, Finalize{Channel: id}))
	if r := s.receipt(res[1]); !strings.Contains(r.Err, "challenge period runs until") {
		t.Fatalf("early finalize: %+v; want it refused", r)
	}
	// A forged report (replica 2's id, replica 3's key) and a report of a
	// key outside the shard are refused and change nothing.
	client, ts, op := ClockOp(s.g.Domain(), s.keys[3].priv, 2, future)
	if s.r.AuthenticateRequest(client, ts, op) {
		t.Fatal("a report signed by another replica's key is authentic")
	}
	client, ts, outsider := ClockOp(s.g.Domain(), otherP.priv, 0, future)
	if s.r.AuthenticateRequest(client, ts, outsider) {
		t.Fatal("a report of a key outside the shard is authentic")
	}
	c0, ts0, own := ClockOp(s.g.Domain(), s.keys[0].priv, 0, future)
	if s.r.AuthenticateRequest(c0, ts0+1, own) {
		t.Fatal("a report at another timestamp than its time is authentic")
	}
	res = s.apply(op, outsider, s.tx(buyerP, 3, future, Finalize{Channel: id}))
	for i := range 2 {
		if !strings.Contains(string(res[i]), "signature does not verify") {
			t.Fatalf("forged report %d: %s", i, res[i])
		}
	}
	if r := s.receipt(res[2]); !strings.Contains(r.Err, "challenge period runs until") {
		t.Fatalf("finalize after forged reports: %+v; want it refused", r)
	}
	// A replayed old report does not move a replica's time backwards, and
	// once two correct replicas' clocks pass the challenge period the
	// close finalizes.
	done := t0.Add(challenge)
	res = s.apply(s.report(0, done), s.report(1, done), s.report(1, t0), s.tx(buyerP, 3, t0, Finalize{Channel: id}))
	if r := s.receipt(res[3]); r.Err != "" || r.Refund != pay.Nano {
		t.Fatalf("finalize after the challenge period: %+v", r)
	}
	if err := s.r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestClockTimeIsTheFPlusFirstLatest(t *testing.T) {
	for _, c := range []struct {
		reports []int64
		want    int64
	}{
		{nil, 0},
		{[]int64{5}, 5},
		{[]int64{0, 0, 0, 9}, 0},
		{[]int64{7, 0, 0, 9}, 7},
		{[]int64{7, 8, 1 << 62, 9}, 9},
		{[]int64{1, 2, 3, 4, 5, 6, 7}, 5}, // f = 2
	} {
		if got := clockTime(c.reports); got != c.want {
			t.Errorf("clockTime(%v) = %d, want %d", c.reports, got, c.want)
		}
	}
}

func FuzzUnmarshalClockReport(f *testing.F) {
	d := testGenesis().Domain()
	f.Add(ClockReport{Replica: 2, Time: 1_800_000_000_000_000_000}.Sign(d, newParty(13).priv).Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := UnmarshalClockReport(b)
		if err != nil {
			return
		}
		if got := rep.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
		_ = rep.Verify(d, newParty(13).priv.Public().(ed25519.PublicKey))
	})
}

// clockingOrderer applies each op at once on a clock shard whose replicas
// start reporting their clocks only from the fifth op on, like a shard
// that just started.
type clockingOrderer struct {
	s   *clockShard
	ops int
}

func (o *clockingOrderer) Submit(_ context.Context, op []byte) ([]byte, error) {
	o.ops++
	if o.ops < 5 {
		return o.s.apply(op)[0], nil
	}
	now := time.Now()
	return o.s.apply(o.s.report(0, now), o.s.report(1, now), op)[2], nil
}

func TestSubmitBodyWaitsForTheShardsClock(t *testing.T) {
	s := newClockShard(t)
	o := &clockingOrderer{s: s}
	c := NewShardClient(o, s.g)
	ctx := context.Background()
	open, err := SubmitBody(ctx, c, s.g.Domain(), buyerP.priv, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: pay.Nano, Challenge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	before := o.ops
	if r, err := SubmitBody(ctx, c, s.g.Domain(), buyerP.priv, StartClose{Channel: open.Channel}); err != nil || r.Channel != open.Channel {
		t.Fatalf("start close on a shard whose clock comes up meanwhile: %+v, %v", r, err)
	}
	if o.ops-before < 4 {
		t.Fatalf("%d ops for the close; want a refused attempt before the clock, then a retry", o.ops-before)
	}
}

// TestClockReportIsVerifiedOnce: a replica's clock report is checked on
// its way in, again with its pre-prepare and by the core, and applied, and
// its signature is verified once; a forged one is refused every time, and
// a genuine report's cache entry vouches for no transaction of the same
// bytes.
func TestClockReportIsVerifiedOnce(t *testing.T) {
	s := newClockShard(t)
	at := time.Unix(1_700_000_000, 0)
	client, ts, op := ClockOp(s.g.Domain(), s.keys[1].priv, 1, at)
	for range 2 {
		if !s.r.AuthenticateRequest(client, ts, op) {
			t.Fatal("a replica's clock report is not authentic")
		}
	}
	if ok := s.r.AuthenticateRequests([][32]byte{client}, []uint64{ts}, [][]byte{op}); !ok[0] {
		t.Fatal("a replica's clock report is not authentic in a batch")
	}
	if res := s.apply(op); bytes.Contains(res[0], []byte("err")) {
		t.Fatalf("applying the report: %s", res[0])
	}
	if n := s.r.clockChecks.Load(); n != 1 {
		t.Fatalf("%d clock report signature checks, want 1", n)
	}

	_, _, forged := ClockOp(s.g.Domain(), s.keys[2].priv, 1, at.Add(time.Second)) // replica 1's report, signed by 2
	for range 2 {
		if s.r.AuthenticateRequest(client, uint64(at.Add(time.Second).UnixNano()), forged) {
			t.Fatal("a clock report signed by another replica's key is authentic")
		}
		if res := s.apply(forged); !bytes.Contains(res[0], []byte("signature")) {
			t.Fatalf("a forged clock report applied: %s", res[0])
		}
	}
	if n := s.r.clockChecks.Load(); n != 1+4 {
		t.Fatalf("%d clock report signature checks, want 5 (a forged report is never cached)", n)
	}

	_, _, payload, err := decodeOp(op)
	if err != nil {
		t.Fatal(err)
	}
	if s.r.sigs.hit(sha256.Sum256(payload)) {
		t.Fatal("a clock report's bytes are in the cache as a transaction's")
	}
}

// TestActivityCountsEverythingButClockReports: the count a replica's clock
// reporter watches grows with transactions and reads, not with reports.
func TestActivityCountsEverythingButClockReports(t *testing.T) {
	s := newClockShard(t)
	at := time.Unix(1_700_000_000, 0)
	s.apply(s.report(0, at), s.report(1, at))
	if n := s.r.Activity(); n != 0 {
		t.Fatalf("activity %d after clock reports alone, want 0", n)
	}
	s.apply(s.tx(buyerP, 1, at, Transfer{To: sellerP.acct, Asset: usd, Amount: 1}), encodeOp(opAccount, at, buyerP.acct[:]))
	if n := s.r.Activity(); n != 2 {
		t.Fatalf("activity %d after a transaction and a read, want 2", n)
	}
}
