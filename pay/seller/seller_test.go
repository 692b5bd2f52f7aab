package seller

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testDomain = pay.Domain{Chain: "x402-test"}

type fixture struct {
	s        *Seller
	store    *Store
	buyerKey ed25519.PrivateKey
	ch       Channel
	meter    *meter.Buyer
	claims   *claimLog
	stop     func()
}

type claimLog struct {
	mu    sync.Mutex
	bests []Best
}

func (l *claimLog) claim(_ context.Context, _ pay.ChannelID, b Best) (pay.Amount, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bests = append(l.bests, b)
	return b.Value(), nil
}

// GiB price of 1 unit: one nano-unit pays for 1.07 bytes, so 65536 bytes
// cost 61035 nano-units.
const price = pay.Nano

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	buyerKey, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(filepath.Join(t.TempDir(), "seller.db"))
	if err != nil {
		t.Fatal(err)
	}
	claims := &claimLog{}
	cfg.Domain, cfg.Asset, cfg.PricePerGiB = testDomain, pay.USD, price
	cfg.Claim = claims.claim
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := New(cfg, store)
	ch := Channel{ID: pay.ChannelID{7}, Buyer: pay.AccountOf(buyerKey.Public().(ed25519.PublicKey)), Asset: pay.USD, Deposit: pay.Nano}
	m := meter.New().Buyer(BuyerID(ch.ID))
	if _, err := s.Admit(ch, m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	f := &fixture{s: s, store: store, buyerKey: buyerKey, ch: ch, meter: m, claims: claims}
	f.stop = sync.OnceFunc(func() { cancel(); <-done; store.Close() })
	t.Cleanup(f.stop)
	return f
}

// relay simulates a relay moving n granted bytes.
func (f *fixture) relay(n int64) {
	f.meter.AddDown(n)
	f.s.Release(f.meter, n, n)
}

func (f *fixture) voucher(seq uint64, amount pay.Amount) pay.SignedVoucher {
	return pay.Voucher{Channel: f.ch.ID, Cumulative: amount, Seq: seq}.Sign(testDomain, f.buyerKey)
}

func TestBuyerIsPausedWithinOneWindowAndResumesWhenPaid(t *testing.T) {
	f := newFixture(t, Config{CreditWindow: 64 << 10, Grace: time.Hour})
	ctx := context.Background()
	// Unpaid: exactly one window of credit.
	g, err := f.s.Acquire(ctx, f.meter, 1<<20)
	if err != nil || g != 64<<10 {
		t.Fatalf("first grant %d, %v; want the 64 KiB window", g, err)
	}
	f.relay(g)

	granted := make(chan int64, 1)
	go func() {
		g, err := f.s.Acquire(ctx, f.meter, 1<<20)
		if err != nil {
			t.Error(err)
		}
		granted <- g
	}()
	select {
	case g := <-granted:
		t.Fatalf("granted %d bytes beyond the window without payment", g)
	default:
	}
	// Paying for the first 64 KiB (61035 nano) opens one more window.
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(1, pay.OwedForBytes(64<<10, price)+1)); err != nil {
		t.Fatal(err)
	}
	if g := <-granted; g != 64<<10 {
		t.Fatalf("after paying for 64 KiB the grant is %d, want 65536", g)
	}
	// The payment was made durable before the credit was extended.
	all, err := f.store.All()
	if err != nil || all[f.ch.ID].Voucher.Seq != 1 {
		t.Fatalf("store after the grant: %+v, %v", all, err)
	}
	// The exposure measured over the run: never more than the window.
	if st := f.s.Status()[0]; st.MaxUnpaidBytes != 64<<10 {
		t.Fatalf("max unpaid %d bytes, want the 64 KiB window", st.MaxUnpaidBytes)
	}
}

func TestUnpaidBuyerIsCutAfterGrace(t *testing.T) {
	f := newFixture(t, Config{CreditWindow: 1000, Grace: 30 * time.Millisecond})
	ctx := context.Background()
	g, err := f.s.Acquire(ctx, f.meter, 5000)
	if err != nil || g != 1000 {
		t.Fatalf("grant %d, %v", g, err)
	}
	f.relay(g)
	if _, err := f.s.Acquire(ctx, f.meter, 5000); !errors.Is(err, ErrCut) {
		t.Fatalf("unpaid past grace: %v, want ErrCut", err)
	}
	if _, ok := f.s.Authenticate(BuyerID(f.ch.ID), "anything"); ok {
		t.Fatal("a cut buyer still authenticates")
	}
	if _, err := f.s.Acquire(ctx, f.meter, 1); !errors.Is(err, ErrCut) {
		t.Fatalf("after the cut: %v", err)
	}
}

func TestVoucherCheats(t *testing.T) {
	f := newFixture(t, Config{})
	other, _ := keys.Generate()
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(2, 5000)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		v    pay.SignedVoucher
		want string
	}{
		"wrong key":     {pay.Voucher{Channel: f.ch.ID, Cumulative: 9000, Seq: 3}.Sign(testDomain, other), "signature does not verify"},
		"other domain":  {pay.Voucher{Channel: f.ch.ID, Cumulative: 9000, Seq: 3}.Sign(pay.Domain{Chain: "x402-main"}, f.buyerKey), "signature does not verify"},
		"other channel": {pay.Voucher{Channel: pay.ChannelID{8}, Cumulative: 9000, Seq: 3}.Sign(testDomain, f.buyerKey), "not " + f.ch.ID.String()},
		"lower amount":  {f.voucher(3, 4000), "below"},
		"replayed seq":  {f.voucher(2, 9000), "not above the held seq"},
		"above deposit": {f.voucher(3, pay.Nano+1), "exceeds the channel deposit"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.s.AcceptVoucher(f.ch.ID, tc.v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if st := f.s.Status(); len(st) != 1 || st[0].Paid != 5000 {
		t.Fatalf("a rejected voucher changed the held payment: %+v", st)
	}
}

func TestTicksExtendTheHeldValue(t *testing.T) {
	f := newFixture(t, Config{})
	chain, err := pay.NewHashChain(100)
	if err != nil {
		t.Fatal(err)
	}
	v := pay.Voucher{Channel: f.ch.ID, Cumulative: 1000, Seq: 1, Chain: &pay.ChainCommit{Root: chain.Root(), TickValue: 10, Length: 100}}.Sign(testDomain, f.buyerKey)
	if _, err := f.s.AcceptVoucher(f.ch.ID, v); err != nil {
		t.Fatal(err)
	}
	f.s.AcceptTicks(f.ch.ID, 1, 40, chain.Preimage(40))
	f.s.AcceptTicks(f.ch.ID, 1, 30, chain.Preimage(30)) // stale: ignored
	f.s.AcceptTicks(f.ch.ID, 9, 90, chain.Preimage(90)) // another voucher: ignored
	if st := f.s.Status(); st[0].Paid != 1400 {
		t.Fatalf("paid %d, want 1400 (1000 + 40 ticks of 10)", st[0].Paid)
	}
}

func TestClaimsAboveThresholdAndAfterRestart(t *testing.T) {
	f := newFixture(t, Config{ClaimThreshold: 1000})
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(1, 700)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ClaimAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.claims.bests) != 1 || f.claims.bests[0].Value() != 700 {
		t.Fatalf("claims %+v, want one of 700", f.claims.bests)
	}
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(2, 1500)); err != nil {
		t.Fatal(err)
	}
	// A "crash": the store survives, the seller does not.
	f.stop()
	store, err := OpenStore(f.store.path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	claims := &claimLog{}
	s2 := New(Config{Domain: testDomain, Asset: pay.USD, PricePerGiB: price, Claim: claims.claim, Logger: slog.New(slog.DiscardHandler)}, store)
	if err := s2.ClaimStored(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(claims.bests) != 1 || claims.bests[0].Value() != 1500 || claims.bests[0].Claimed != 700 {
		t.Fatalf("after restart claims %+v, want the stored 1500 (700 already claimed)", claims.bests)
	}
}

func TestBytesCovered(t *testing.T) {
	if got := bytesCovered(pay.OwedForBytes(1<<30, price), price); got != 1<<30 {
		t.Fatalf("a GiB's price covers %d bytes", got)
	}
	if got := bytesCovered(61035, price); got >= 64<<10 {
		t.Fatalf("61035 nano covers %d bytes, less than 64 KiB expected", got)
	}
	if got := bytesCovered(1, 0); got != ^uint64(0) {
		t.Fatalf("free price covers %d", got)
	}
}

// TestClaimsOnlyWhatIsOwedAndRefundsThePrepayment: a buyer that paid ahead
// of its usage has only its usage claimed, and its final voucher for a
// cooperative close, below what it paid, is taken when it covers the bill.
func TestClaimsOnlyWhatIsOwedAndRefundsThePrepayment(t *testing.T) {
	f := newFixture(t, Config{ClaimThreshold: 1})
	chain, err := pay.NewHashChain(100)
	if err != nil {
		t.Fatal(err)
	}
	v := pay.Voucher{Channel: f.ch.ID, Cumulative: 500000, Seq: 1, Chain: &pay.ChainCommit{Root: chain.Root(), TickValue: 10000, Length: 100}}.Sign(testDomain, f.buyerKey)
	if _, err := f.s.AcceptVoucher(f.ch.ID, v); err != nil {
		t.Fatal(err)
	}
	f.s.AcceptTicks(f.ch.ID, 1, 60, chain.Preimage(60)) // paid 1,100,000
	f.relay(1 << 20)
	owed := pay.OwedForBytes(1<<20, price) // 976,562: 47 whole ticks above the voucher
	if err := f.s.ClaimAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	claimed := f.claims.bests[len(f.claims.bests)-1]
	if claimed.Ticks != 47 || claimed.Value() != 970000 {
		t.Fatalf("claimed %d ticks worth %d; want 47 ticks, 970000 (what is owed, %d, in whole ticks)", claimed.Ticks, claimed.Value(), owed)
	}
	if err := pay.VerifyPreimage(chain.Root(), claimed.Preimage, claimed.Ticks, 100); err != nil {
		t.Fatalf("the claimed preimage does not redeem 47 ticks: %v", err)
	}

	slack := pay.OwedForBytes(64<<10, price)
	for _, bad := range []struct {
		v    pay.SignedVoucher
		want string
	}{
		{f.voucher(2, owed-slack-1), "falls short"},
		{f.voucher(2, 960000), "below the"},
		{f.voucher(1, owed), "not above the held seq"},
		{pay.Voucher{Channel: f.ch.ID, Cumulative: owed, Seq: 2}.Sign(testDomain, f.newKey(t)), "signature"},
	} {
		if _, err := f.s.AcceptFinal(f.ch.ID, bad.v); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("final voucher %d at seq %d: %v, want an error with %q", bad.v.Cumulative, bad.v.Seq, err, bad.want)
		}
	}
	if _, err := f.s.AcceptFinal(f.ch.ID, f.voucher(2, owed)); err != nil {
		t.Fatalf("final voucher for the bill, below the prepayment: %v", err)
	}
	if err := f.s.ClaimAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.s.Status()[0]; st.Paid != owed || st.Durable != owed || st.Claimed != owed {
		t.Fatalf("after the final voucher: paid %d, durable %d, claimed %d; want %d each", st.Paid, st.Durable, st.Claimed, owed)
	}
}

func (f *fixture) newKey(t *testing.T) ed25519.PrivateKey {
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRenewedVoucherAheadOfUsageIsNotClaimedWhole: a buyer whose chain ran
// out signs its next voucher for what it had paid, prepayment included;
// until usage catches up the seller claims from the voucher it replaced.
func TestRenewedVoucherAheadOfUsageIsNotClaimedWhole(t *testing.T) {
	f := newFixture(t, Config{ClaimThreshold: 1})
	chain1, _ := pay.NewHashChain(60)
	chain2, _ := pay.NewHashChain(100)
	v1 := pay.Voucher{Channel: f.ch.ID, Cumulative: 500000, Seq: 1, Chain: &pay.ChainCommit{Root: chain1.Root(), TickValue: 10000, Length: 60}}.Sign(testDomain, f.buyerKey)
	v2 := pay.Voucher{Channel: f.ch.ID, Cumulative: 1100000, Seq: 2, Chain: &pay.ChainCommit{Root: chain2.Root(), TickValue: 10000, Length: 100}}.Sign(testDomain, f.buyerKey)
	if _, err := f.s.AcceptVoucher(f.ch.ID, v1); err != nil {
		t.Fatal(err)
	}
	f.s.AcceptTicks(f.ch.ID, 1, 60, chain1.Preimage(60)) // chain exhausted at 1,100,000
	if _, err := f.s.AcceptVoucher(f.ch.ID, v2); err != nil {
		t.Fatal(err)
	}
	f.relay(1 << 20) // owes 976,562
	if err := f.s.ClaimAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	claimed := f.claims.bests[len(f.claims.bests)-1]
	if claimed.Voucher.Seq != 1 || claimed.Ticks != 47 || claimed.Value() != 970000 {
		t.Fatalf("claimed seq %d with %d ticks worth %d; want seq 1, 47 ticks, 970000", claimed.Voucher.Seq, claimed.Ticks, claimed.Value())
	}
	owed := pay.OwedForBytes(1<<20, price)
	if _, err := f.s.AcceptFinal(f.ch.ID, f.voucher(3, owed)); err != nil {
		t.Fatalf("final voucher for the bill after a renewal: %v", err)
	}
}

// TestPaymentsAheadOfNeedArePersistedPeriodically: a payment whose credit
// is not needed yet is made durable by the periodic persist rather than at
// once, and then extends the credit like any other.
func TestPaymentsAheadOfNeedArePersistedPeriodically(t *testing.T) {
	f := newFixture(t, Config{})
	tenMiB := pay.OwedForBytes(10<<20, price)
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(1, tenMiB)); err != nil {
		t.Fatal(err)
	}
	urgent := func() bool {
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
		return f.s.persistNowLocked(f.s.chans[BuyerID(f.ch.ID)])
	}
	testenv.Eventually(t, "the first payment, needed at once, on disk", func() bool { return f.s.Status()[0].Durable == tenMiB })
	if urgent() {
		t.Fatal("nothing new to persist, yet persisting is urgent")
	}
	more := tenMiB + pay.OwedForBytes(64<<10, price)
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(2, more)); err != nil {
		t.Fatal(err)
	}
	if urgent() {
		t.Fatal("64 KiB more with 10 MiB of durable credit left is urgent")
	}
	testenv.Eventually(t, "the second payment on disk", func() bool {
		all, err := f.store.All()
		return err == nil && all[f.ch.ID].Voucher.Seq == 2 && f.s.Status()[0].Durable == more
	})
}

func TestLazyPaymentIsPersistedBeforeTheRelayNeedsIt(t *testing.T) {
	// No periodic persist within the test: only need makes a payment durable.
	f := newFixture(t, Config{CreditWindow: 64 << 10, Grace: time.Hour, PersistEvery: time.Hour})
	ctx := context.Background()
	tenMiB := pay.OwedForBytes(10<<20, price)
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(1, tenMiB)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the first payment, needed at once, on disk", func() bool { return f.s.Status()[0].Durable == tenMiB })
	// 4 MiB more with 10 MiB of durable credit left waits for the periodic persist...
	more := tenMiB + pay.OwedForBytes(4<<20, price)
	if _, err := f.s.AcceptVoucher(f.ch.ID, f.voucher(2, more)); err != nil {
		t.Fatal(err)
	}
	if got := f.s.Status()[0].Durable; got != tenMiB {
		t.Fatalf("durable %d right after a payment ahead of need; want it still %d", got, tenMiB)
	}
	// ...until the relay spends the durable credit down to 2 MiB: then the
	// persister runs at once, and the relay never pauses.
	for spent := int64(0); spent < 8<<20; {
		g, err := f.s.Acquire(ctx, f.meter, 256<<10)
		if err != nil || g == 0 {
			t.Fatalf("grant after %d bytes: %d, %v", spent, g, err)
		}
		f.relay(g)
		spent += g
	}
	testenv.Eventually(t, "the second payment on disk before the credit runs out", func() bool { return f.s.Status()[0].Durable == more })
	if st := f.s.Status()[0]; st.Pauses != 0 {
		t.Fatalf("%d pauses; want none", st.Pauses)
	}
}
