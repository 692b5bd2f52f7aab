package ledger

import (
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// TestWorkedExample: a 1 USD channel paid in 0.0001 USD vouchers at a fee of
// 10 ppm (1 nano-USD per 0.0001 USD), each voucher claimed on its own, then
// closed by the buyer and finalized: every nano is accounted for.
func TestWorkedExample(t *testing.T) {
	l := openTest(t, testGenesis())
	const step = pay.Amount(100_000) // 0.0001 USD
	const vouchers = 25
	buyerStart := balance(t, l, buyerP.acct, usd)

	open := buyerP.must(t, l, 1_000, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: pay.Nano, Challenge: time.Minute})
	if open.Channel != ChannelIDFor(l.Domain(), buyerP.acct, 1) || open.Paid != pay.Nano {
		t.Fatalf("open receipt %+v", open)
	}
	id := open.Channel
	for i := 1; i <= vouchers; i++ {
		r := sellerP.must(t, l, int64(2_000+i), Claim{Voucher: voucher(l, id, step*pay.Amount(i), uint64(i))})
		if r.Paid != 99_999 || r.Fee != 1 {
			t.Fatalf("claim %d: paid %d fee %d, want 99999 and 1", i, r.Paid, r.Fee)
		}
	}
	buyerP.must(t, l, 10_000, StartClose{Channel: id})
	ch, err := l.Channel(id)
	if err != nil || ch.Status != StatusClosing || ch.CloseAt != 10_000+int64(time.Minute) {
		t.Fatalf("closing channel %+v, %v", ch, err)
	}
	fin := otherP.must(t, l, 10_000+int64(time.Minute), Finalize{Channel: id})

	const claimed = vouchers * step              // 0.0025 USD
	wantRefund := pay.Amount(pay.Nano) - claimed // 0.9975 USD
	if fin.Refund != wantRefund {
		t.Fatalf("refund %d, want %d", fin.Refund, wantRefund)
	}
	for _, c := range []struct {
		who  pay.Account
		want pay.Amount
	}{
		{sellerP.acct, vouchers * 99_999},                 // 2_499_975
		{feeP.acct, vouchers * 1},                         // 25 nano-USD
		{buyerP.acct, buyerStart - pay.Nano + wantRefund}, // 10 - 1 + 0.9975 USD
	} {
		if got := balance(t, l, c.who, usd); got != c.want {
			t.Errorf("%s: balance %d, want %d", c.who, got, c.want)
		}
	}
	ch, _ = l.Channel(id)
	if ch.Status != StatusSettled || ch.Claimed != claimed || ch.Refunded != wantRefund || ch.BestSeq != vouchers {
		t.Fatalf("settled channel %+v", ch)
	}
}
