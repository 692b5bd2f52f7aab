package node

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/pay/seller"
	"github.com/x402/x402/pay/session"
	"github.com/x402/x402/proxy"
)

type party struct {
	key ed25519.PrivateKey
	acc pay.Account
}

func newParty(t testing.TB) party {
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return party{k, pay.AccountOf(k.Public().(ed25519.PublicKey))}
}

type paidNet struct {
	ledger                     *ledger.Sequencer
	seller, buyer, fee, issuer party
	node                       *Node
	origin                     string
}

const buyerFunds = 10 * pay.Nano

func startPaidNet(t *testing.T, grace time.Duration) *paidNet {
	t.Helper()
	return startPaidNetWith(t, func(pc *PaymentsSection) {
		pc.Grace, pc.ClaimThreshold, pc.StatementEvery = Duration{grace}, "0.001", 16<<10
	})
}

// startPaidNetWith starts a ledger, an origin and a paid node whose
// payments section edit adjusts from the node's defaults.
func startPaidNetWith(t testing.TB, edit func(*PaymentsSection)) *paidNet {
	t.Helper()
	pn := &paidNet{seller: newParty(t), buyer: newParty(t), fee: newParty(t), issuer: newParty(t)}
	g := ledger.Genesis{
		Chain: "x402-test", FeePPM: 10, FeeAccount: pn.fee.acc, Issuer: pn.issuer.acc,
		Allocations:  []ledger.Allocation{{Account: pn.buyer.acc, Asset: pay.USD, Amount: buyerFunds}},
		MinChallenge: 10 * time.Millisecond, MaxChallenge: time.Hour,
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pn.ledger = ledger.NewSequencer(l, time.Now)
	pn.origin = bytesOrigin(t)
	cfg := testConfig(t, pn.origin)
	cfg.Payments = PaymentsSection{Listen: "127.0.0.1:0", Asset: "USD", PricePerGiB: "0.50"}
	edit(&cfg.Payments)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	pn.node, err = Start(cfg, Options{Version: "test", Logger: testLog(), Key: pn.seller.key, Ledger: pn.ledger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pn.node.Shutdown(ctx)
	})
	return pn
}

// bytesOrigin serves N deterministic bytes at /bytes/N.
func bytesOrigin(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Path[len("/bytes/"):], 10, 64)
		// ?mbps=R paces the body at R MB/s, like an uplink of that speed.
		mbps, _ := strconv.ParseFloat(r.URL.Query().Get("mbps"), 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 32<<10)
		start := time.Now()
		pace := time.NewTimer(0) // holds the body back to the link's speed
		defer pace.Stop()
		<-pace.C
		for sent := int64(0); sent < n; {
			if mbps > 0 {
				if ahead := time.Duration(float64(sent)/(mbps*1e6)*float64(time.Second)) - time.Since(start); ahead > 0 {
					pace.Reset(ahead)
					select {
					case <-pace.C:
					case <-r.Context().Done():
						return
					}
				}
			}
			k := min(int64(len(buf)), n-sent)
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			sent += k
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func (pn *paidNet) balance(t *testing.T, a pay.Account) pay.Amount {
	st, err := pn.ledger.Account(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return st.Balances[pay.USD]
}

func TestPaidDownloadThroughTheBuyerAgentSettlesExactly(t *testing.T) {
	// The buyer's hash chains here have 1024 ticks of 64 KiB (64 MiB):
	// 8 MiB stays within the first; at 60 MiB its prepayment (32 MiB) has
	// run past it, and the next voucher is worth more than the bill.
	for _, size := range []int{8 << 20, 60 << 20} {
		t.Run(strconv.Itoa(size>>20)+"MiB", func(t *testing.T) { testPaidDownloadSettlesExactly(t, size) })
	}
}

func testPaidDownloadSettlesExactly(t *testing.T, size int) {
	pn := startPaidNet(t, 5*time.Second)
	ctx := context.Background()
	agent, err := buyer.StartAgent(ctx, buyer.AgentConfig{
		Key: pn.buyer.key, Ledger: pn.ledger, SellerAddr: pn.node.Addrs().Payments, Seller: pn.seller.acc,
		Asset: pay.USD, Deposit: pay.Nano, Challenge: 50 * time.Millisecond,
		Limits: buyer.Limits{MaxPricePerGiB: pay.Nano}, ChainLength: 1024,
		ListenSOCKS5: "127.0.0.1:0", Logger: testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	socks, _, user, pass := agent.LocalEndpoints()
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		return proxy.DialSOCKS5(ctx, socks, user, pass, host, uint16(p))
	}}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + pn.origin + "/bytes/" + strconv.Itoa(size))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(size) {
		t.Fatalf("paid download: %d bytes, %v", n, err)
	}
	// The buyer pays ahead of its bills, and the seller claims only what
	// was used, so the cooperative close below can refund the rest.
	ahead := pay.OwedForBytes(buyer.DefaultPrepayBytes, pay.Nano/2) - pay.OwedForBytes(buyer.DefaultTickBytes, pay.Nano/2)
	testenv.Eventually(t, "the seller to hold the prepayment on disk", func() bool {
		st := pn.node.pay.status()[seller.BuyerID(agent.Channel())]
		return st.Durable >= st.Owed+ahead && st.Claimed <= st.Owed
	})
	// The seller's periodic claim, now: it leaves the prepayment unclaimed,
	// also after the buyer renewed its voucher ahead of usage.
	if err := pn.node.pay.seller.ClaimAll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := pn.node.pay.status()[seller.BuyerID(agent.Channel())]; st.Claimed == 0 || st.Claimed > st.Owed {
		t.Fatalf("the seller claimed %d of %d owed (%d held)", st.Claimed, st.Owed, st.Durable)
	}
	// The seller never ran more than its window ahead of durable payments
	// (none at all if the buyer's first prepayment came before the relay).
	for _, b := range pn.node.Status().Buyers {
		if b.ID == seller.BuyerID(agent.Channel()) && b.MaxUnpaidBytes > 64<<10 {
			t.Fatalf("the seller ran %d bytes ahead of durable payments; want at most 65536 (its credit window)", b.MaxUnpaidBytes)
		}
	}
	s, err := agent.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	relayed := pn.node.Meter().Buyer(s.BuyerID()).Usage()
	owed := pay.OwedForBytes(relayed.BytesUp+relayed.BytesDown, pay.Nano/2)
	t.Logf("settlement %+v; seller relayed %d bytes, owed %d", s, relayed.BytesUp+relayed.BytesDown, owed)
	if s.BytesCounted != relayed.BytesUp+relayed.BytesDown {
		t.Errorf("buyer counted %d bytes, seller relayed %d", s.BytesCounted, relayed.BytesUp+relayed.BytesDown)
	}
	if !s.Cooperative {
		t.Error("the channel was not closed cooperatively")
	}
	if s.Paid != owed || s.Settled != owed || s.Refund != pay.Nano-owed {
		t.Fatalf("paid %d, settled %d, refund %d; want %d, %d, %d", s.Paid, s.Settled, s.Refund, owed, owed, pay.Nano-owed)
	}
	sellerGot, feeGot, buyerLeft := pn.balance(t, pn.seller.acc), pn.balance(t, pn.fee.acc), pn.balance(t, pn.buyer.acc)
	if sellerGot+feeGot != owed || buyerLeft != buyerFunds-owed {
		t.Fatalf("seller %d + fee %d != owed %d, or buyer left %d != %d", sellerGot, feeGot, owed, buyerLeft, buyerFunds-owed)
	}
	if feeGot > pay.FeeFor(owed, 10)+10 || feeGot+10 < pay.FeeFor(owed, 10) {
		t.Fatalf("fee %d far from 10 ppm of %d", feeGot, owed)
	}
}

func TestUnpaidBuyerIsPausedWithinAWindowThenCut(t *testing.T) {
	pn := startPaidNet(t, 300*time.Millisecond)
	ctx := context.Background()
	r, err := ledger.SubmitBody(ctx, pn.ledger, pay.Domain{Chain: "x402-test"}, pn.buyer.key, ledger.OpenChannel{Seller: pn.seller.acc, Asset: pay.USD, Deposit: pay.Nano, Challenge: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// A buyer that takes the credentials and never pays.
	sess, err := session.Dial(ctx, pn.node.Addrs().Payments, pn.seller.acc, pn.buyer.key, pay.Domain{Chain: "x402-test"}, r.Channel, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	w := sess.Welcome()
	c, err := proxy.DialSOCKS5(ctx, w.SOCKS5, w.User, w.Password, "127.0.0.1", portOf(pn.origin))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /bytes/10000000 HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the unpaid tunnel was never cut")
	}
	u := pn.node.Meter().Buyer(w.User).Usage()
	if u.BytesDown+u.BytesUp > 64<<10 || got > 64<<10 {
		t.Fatalf("unpaid buyer got %d bytes (meter %+v), more than the 64 KiB window", got, u)
	}
	if _, err := proxy.DialSOCKS5(ctx, w.SOCKS5, w.User, w.Password, "127.0.0.1", portOf(pn.origin)); err == nil {
		t.Fatal("a cut buyer opened a new tunnel")
	}
}

func portOf(addr string) uint16 {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

func testLog() *slog.Logger {
	if os.Getenv("X402_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestSellerClaimsAndCutsWhenTheBuyerClosesUnilaterally: a buyer that
// starts closing its channel on the ledger while its session is live
// (vouchers on it are about to be worthless) is cut off, and the seller
// claims everything owed within the challenge period.
func TestSellerClaimsAndCutsWhenTheBuyerClosesUnilaterally(t *testing.T) {
	pn := startPaidNet(t, 5*time.Second)
	ctx := context.Background()
	agent, err := buyer.StartAgent(ctx, buyer.AgentConfig{
		Key: pn.buyer.key, Ledger: pn.ledger, SellerAddr: pn.node.Addrs().Payments, Seller: pn.seller.acc,
		Asset: pay.USD, Deposit: pay.Nano, Challenge: 2 * time.Second, Logger: testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := agent.Channel()
	w := agent.Welcome()
	c, err := proxy.DialSOCKS5(ctx, w.SOCKS5, w.User, w.Password, "127.0.0.1", portOf(pn.origin))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /bytes/4000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if n, _ := io.Copy(io.Discard, c); n < 4_000_000 {
		t.Fatalf("downloaded %d bytes", n)
	}
	c.Close()
	relayed := func() uint64 {
		u := pn.node.Meter().Buyer(seller.BuyerID(ch)).Usage()
		return u.BytesUp + u.BytesDown
	}
	testenv.Eventually(t, "the payments for the download on the seller's disk", func() bool {
		st := pn.node.pay.status()[seller.BuyerID(ch)]
		return st.Owed == pay.OwedForBytes(relayed(), pay.Nano/2) && st.Durable >= st.Owed
	})
	if _, err := ledger.SubmitBody(ctx, pn.ledger, pay.Domain{Chain: "x402-test"}, pn.buyer.key, ledger.StartClose{Channel: ch}); err != nil {
		t.Fatal(err)
	}
	// The seller claims whole ticks (64 KiB each) of what it holds, up to
	// what is owed: all of it but less than a tick.
	tick := pay.OwedForBytes(buyer.DefaultTickBytes, pay.Nano/2)
	start := time.Now()
	testenv.Eventually(t, "the seller to claim all it is owed", func() bool {
		st, err := pn.ledger.Channel(ctx, ch)
		owed := pay.OwedForBytes(relayed(), pay.Nano/2)
		return err == nil && st.Claimed <= owed && st.Claimed+tick > owed
	})
	if st, _ := pn.ledger.Channel(ctx, ch); time.Unix(0, st.CloseAt).Before(time.Now()) {
		t.Fatalf("claimed %v after the close started, after the challenge period ended", time.Since(start))
	}
	if _, err := proxy.DialSOCKS5(ctx, w.SOCKS5, w.User, w.Password, "127.0.0.1", portOf(pn.origin)); err == nil {
		t.Fatal("the buyer of a closing channel opened a new tunnel")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := agent.Close(cctx)
	if owed := pay.OwedForBytes(relayed(), pay.Nano/2); err != nil || s.Settled > owed || s.Settled+tick <= owed {
		t.Fatalf("settlement %+v, %v; want about %s settled", s, err, owed)
	}
}
