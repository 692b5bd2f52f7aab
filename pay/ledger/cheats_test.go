package ledger

import (
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// reject applies tx and checks that it is rejected with an error containing
// want and that nothing changed.
func reject(t *testing.T, l *Ledger, tx SignedTx, now int64, want string) {
	t.Helper()
	before := l.Digest()
	r := l.Apply(tx, now)
	if r.Err == "" {
		t.Fatalf("%T accepted, want %q", tx.Body, want)
	}
	if !strings.Contains(r.Err, want) {
		t.Fatalf("%T rejected with %q, want it to mention %q", tx.Body, r.Err, want)
	}
	if r.Seq != 0 || r.Paid != 0 || r.Fee != 0 || r.Refund != 0 {
		t.Fatalf("rejected receipt carries values: %+v", r)
	}
	if l.Digest() != before {
		t.Fatalf("rejected %T (%s) changed the state", tx.Body, r.Err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestEveryCheatFails(t *testing.T) {
	l := openTest(t, testGenesis())
	d := l.Domain()
	const deposit = pay.Nano
	id := buyerP.must(t, l, 1, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: deposit, Challenge: time.Minute}).Channel
	// A second channel of the same buyer, sold by someone else.
	id2 := buyerP.must(t, l, 2, OpenChannel{Seller: otherP.acct, Asset: usd, Deposit: deposit, Challenge: time.Minute}).Channel
	sellerP.must(t, l, 3, Claim{Voucher: voucher(l, id, 700, 5)})

	t.Run("forged signature", func(t *testing.T) {
		tx := buyerP.tx(t, l, Transfer{To: otherP.acct, Asset: usd, Amount: 1})
		tx.Sig[0] ^= 1
		reject(t, l, tx, 4, "signature does not verify")
	})
	t.Run("wrong key", func(t *testing.T) {
		tx := buyerP.tx(t, l, Transfer{To: otherP.acct, Asset: usd, Amount: 1})
		reject(t, l, tx.Tx.Sign(d, otherP.priv), 4, "signature does not verify")
	})
	t.Run("signature from another chain", func(t *testing.T) {
		tx := buyerP.tx(t, l, Transfer{To: otherP.acct, Asset: usd, Amount: 1})
		reject(t, l, tx.Tx.Sign(pay.Domain{Chain: "x402-main"}, buyerP.priv), 4, "signature does not verify")
	})
	t.Run("voucher for another channel", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: voucher(l, id2, 800, 6)}), 4, "voucher is for channel "+id2.String())
	})
	t.Run("voucher altered to another channel", func(t *testing.T) {
		v := voucher(l, id, 800, 6)
		v.Channel = id2
		reject(t, l, otherP.tx(t, l, Claim{Voucher: v}), 4, "signature does not verify")
	})
	t.Run("voucher signed by the seller", func(t *testing.T) {
		v := pay.Voucher{Channel: id, Cumulative: 900, Seq: 9}.Sign(d, sellerP.priv)
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: v}), 4, "signature does not verify")
	})
	t.Run("lower cumulative amount", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: voucher(l, id, 500, 6)}), 4, "claim: voucher amount 500 is not above the claimed 700")
	})
	t.Run("equal cumulative amount", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: voucher(l, id, 700, 6)}), 4, "voucher amount 700 is not above the claimed 700")
	})
	t.Run("older voucher", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: voucher(l, id, 900, 4)}), 4, "voucher seq 4 is older than the claimed seq 5")
	})
	t.Run("replayed transaction", func(t *testing.T) {
		tx := buyerP.tx(t, l, Transfer{To: otherP.acct, Asset: usd, Amount: 1})
		if r := l.Apply(tx, 4); r.Err != "" {
			t.Fatal(r.Err)
		}
		reject(t, l, tx, 5, "nonce 3 already used (next is 4)")
	})
	t.Run("nonce from the future", func(t *testing.T) {
		tx := buyerP.tx(t, l, Transfer{To: otherP.acct, Asset: usd, Amount: 1})
		tx.Nonce += 2
		reject(t, l, tx.Tx.Sign(d, buyerP.priv), 5, "nonce 6 is ahead (next is 4)")
	})
	t.Run("claim above deposit", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: voucher(l, id, deposit+1, 7)}), 5, "claim above deposit")
	})
	t.Run("mint by a non-issuer", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, Mint{To: buyerP.acct, Asset: usd, Amount: 1}), 5, "is not the issuer")
	})
	t.Run("burn by a non-issuer", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, Burn{Asset: usd, Amount: 1}), 5, "is not the issuer")
	})
	t.Run("overdraft", func(t *testing.T) {
		reject(t, l, otherP.tx(t, l, Transfer{To: buyerP.acct, Asset: usd, Amount: 11 * pay.Nano}), 5, "insufficient USD balance")
	})
	t.Run("faucet twice", func(t *testing.T) {
		sellerP.must(t, l, 5, Faucet{Asset: usd})
		reject(t, l, sellerP.tx(t, l, Faucet{Asset: usd}), 5, "already used the USD faucet")
	})
	t.Run("faucet of another asset", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Faucet{Asset: pay.X402}), 5, "the faucet gives only USD")
	})
	t.Run("top up by the seller", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, TopUp{Channel: id, Amount: 1}), 5, "only the buyer")
	})
	t.Run("unknown channel", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, StartClose{Channel: pay.ChannelID{7}}), 5, "unknown channel")
	})
	t.Run("close by a stranger", func(t *testing.T) {
		reject(t, l, otherP.tx(t, l, StartClose{Channel: id}), 5, "only the buyer or the seller")
	})
	t.Run("finalize an open channel", func(t *testing.T) {
		reject(t, l, otherP.tx(t, l, Finalize{Channel: id}), 5, "must start the close first")
	})
	t.Run("challenge period outside bounds", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 1, Challenge: 2 * time.Hour}), 5, "outside the ledger's bounds")
	})
	t.Run("coop close with a forged seller signature", func(t *testing.T) {
		cc := CoopClose{Voucher: voucher(l, id, 800, 6)}.SignSeller(d, otherP.priv)
		reject(t, l, buyerP.tx(t, l, cc), 5, "seller's close signature: signature does not verify")
		cc = CoopClose{Voucher: voucher(l, id, 800, 6)}.SignSeller(d, sellerP.priv) // the seller consented to 800, not 900
		cc.Voucher = pay.Voucher{Channel: id, Cumulative: 900, Seq: 6}.Sign(d, buyerP.priv)
		reject(t, l, buyerP.tx(t, l, cc), 5, "seller's close signature: signature does not verify")
	})
	t.Run("seller's consent replayed as another kind", func(t *testing.T) {
		cc := CoopClose{Voucher: voucher(l, id, 800, 6)}
		cc.SellerSig = d.Sign(sellerP.priv, pay.KindVoucher, cc.Payload())
		reject(t, l, buyerP.tx(t, l, cc), 5, "seller's close signature")
	})

	// Hash-chain ticks.
	w := testChain(1, 100)
	chained := pay.Voucher{Channel: id, Cumulative: 1000, Seq: 10,
		Chain: &pay.ChainCommit{Root: w[0], TickValue: 10, Length: 100}}.Sign(d, buyerP.priv)
	t.Run("tick preimage that does not hash to the root", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: chained, Ticks: 50, Preimage: w[49]}), 6, "tick preimage does not hash to the committed root")
	})
	t.Run("more ticks than the chain", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: chained, Ticks: 101, Preimage: w[100]}), 6, "chain longer than committed")
	})
	t.Run("ticks without a chain", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: voucher(l, id, 900, 10), Ticks: 1, Preimage: w[1]}), 6, "commits to no hash chain")
	})
	t.Run("preimage without ticks", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: chained, Preimage: w[1]}), 6, "preimage given without ticks")
	})
	r := sellerP.must(t, l, 6, Claim{Voucher: chained, Ticks: 50, Preimage: w[50]})
	if want := pay.Amount(1000 + 50*10 - 700); r.Paid+r.Fee != want {
		t.Fatalf("tick claim paid %d + fee %d, want %d", r.Paid, r.Fee, want)
	}
	t.Run("same ticks again", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: chained, Ticks: 50, Preimage: w[50]}), 7, "not above the claimed 1500")
	})
	sellerP.must(t, l, 7, Claim{Voucher: chained, Ticks: 60, Preimage: w[60]})

	// Close: the challenge period, then settlement, once.
	buyerP.must(t, l, 100, StartClose{Channel: id})
	closeAt := 100 + int64(time.Minute)
	t.Run("close twice", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, StartClose{Channel: id}), 101, "close already started")
	})
	t.Run("top up while closing", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, TopUp{Channel: id, Amount: 1}), 101, "is closing")
	})
	t.Run("finalize before the challenge period ends", func(t *testing.T) {
		reject(t, l, otherP.tx(t, l, Finalize{Channel: id}), closeAt-1, "challenge period runs until")
	})
	// The seller may still claim during the challenge period, but not after.
	sellerP.must(t, l, closeAt-1, Claim{Voucher: chained, Ticks: 61, Preimage: w[61]})
	t.Run("claim after the challenge period", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: chained, Ticks: 62, Preimage: w[62]}), closeAt, "challenge period ended")
	})
	fin := otherP.must(t, l, closeAt, Finalize{Channel: id})
	if want := pay.Amount(deposit - (1000 + 61*10)); fin.Refund != want {
		t.Fatalf("refund %d, want %d", fin.Refund, want)
	}
	t.Run("finalize twice", func(t *testing.T) {
		reject(t, l, otherP.tx(t, l, Finalize{Channel: id}), closeAt+1, "channel already settled")
	})
	t.Run("claim after finalize", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, Claim{Voucher: chained, Ticks: 70, Preimage: w[70]}), closeAt+1, "channel already settled")
	})
	t.Run("coop close after finalize", func(t *testing.T) {
		cc := CoopClose{Voucher: chained, Ticks: 70, Preimage: w[70]}.SignSeller(d, sellerP.priv)
		reject(t, l, buyerP.tx(t, l, cc), closeAt+1, "channel already settled")
	})
}

func TestFaucetWhenGenesisHasNone(t *testing.T) {
	g := testGenesis()
	g.Faucet = nil
	l := openTest(t, g)
	reject(t, l, buyerP.tx(t, l, Faucet{Asset: usd}), 1, "this ledger has no faucet")
}

func TestCoopCloseAndSellerClose(t *testing.T) {
	l := openTest(t, testGenesis())
	d := l.Domain()
	id := buyerP.must(t, l, 1, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 1_000_000, Challenge: time.Minute}).Channel
	sellerP.must(t, l, 2, Claim{Voucher: voucher(l, id, 200_000, 1)})
	t.Run("coop close below the claimed amount", func(t *testing.T) {
		cc := CoopClose{Voucher: voucher(l, id, 100_000, 2)}.SignSeller(d, sellerP.priv)
		reject(t, l, buyerP.tx(t, l, cc), 3, "below the claimed 200000")
	})
	t.Run("coop close submitted by the seller", func(t *testing.T) {
		cc := CoopClose{Voucher: voucher(l, id, 300_000, 2)}.SignSeller(d, sellerP.priv)
		reject(t, l, sellerP.tx(t, l, cc), 3, "only the buyer")
	})
	cc := CoopClose{Voucher: voucher(l, id, 300_000, 2)}.SignSeller(d, sellerP.priv)
	r := buyerP.must(t, l, 3, cc)
	if r.Paid != 99_999 || r.Fee != 1 || r.Refund != 700_000 {
		t.Fatalf("coop close receipt %+v", r)
	}
	if ch, _ := l.Channel(id); ch.Status != StatusSettled || ch.Claimed != 300_000 {
		t.Fatalf("channel after coop close %+v", ch)
	}

	// A seller's close needs no challenge period.
	id2 := buyerP.must(t, l, 4, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 1_000, Challenge: time.Hour}).Channel
	sellerP.must(t, l, 5, Claim{Voucher: voucher(l, id2, 400, 1)})
	sellerP.must(t, l, 5, StartClose{Channel: id2})
	if r := otherP.must(t, l, 5, Finalize{Channel: id2}); r.Refund != 600 {
		t.Fatalf("refund after the seller's close %d, want 600", r.Refund)
	}
}
