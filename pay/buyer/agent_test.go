package buyer

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/pay/session"
	"github.com/x402/x402/proxy"
	"github.com/x402/x402/proxy/egress"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rogueSeller runs a real proxy and payment session, and bills every
// statement for ten times the bytes it relayed.
type rogueSeller struct {
	proxy  *proxy.Proxy
	meter  *meter.Meter
	server *session.Server
	socks  net.Listener
	key    ed25519.PrivateKey

	mu      sync.Mutex
	voucher pay.SignedVoucher // the newest voucher accepted
	ticks   uint32            // ticks of it received
}

// held is what the rogue could redeem: its newest voucher and ticks.
func (r *rogueSeller) held() pay.Amount {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := r.voucher.ValueWithTicks(r.ticks)
	if err != nil {
		return r.voucher.Cumulative
	}
	return v
}

func (r *rogueSeller) Open(context.Context, pay.Account, pay.ChannelID) (session.Welcome, error) {
	return session.Welcome{User: "u", Password: "p", SOCKS5: r.socks.Addr().String(), Asset: pay.USD, PricePerGiB: pay.Nano / 2, CreditWindow: 64 << 10, StatementEvery: 16 << 10}, nil
}

func (r *rogueSeller) Voucher(_ context.Context, _ pay.ChannelID, v pay.SignedVoucher) (pay.Amount, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v.Seq > r.voucher.Seq {
		r.voucher, r.ticks = v, 0
	}
	return v.Cumulative, nil
}

func (r *rogueSeller) Tick(_ pay.ChannelID, seq uint64, ticks uint32, _ [32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq == r.voucher.Seq && ticks > r.ticks {
		r.ticks = ticks
	}
}
func (r *rogueSeller) Closed(pay.ChannelID, error) {}

func TestOverbillingSellerIsNotPaidTheExcess(t *testing.T) {
	issuer, _ := keys.Generate()
	buyerKey, _ := keys.Generate()
	sellerKey, _ := keys.Generate()
	acc := func(k ed25519.PrivateKey) pay.Account { return pay.AccountOf(k.Public().(ed25519.PublicKey)) }
	g := ledger.Genesis{Chain: "x402-test", FeePPM: 10, FeeAccount: acc(issuer), Issuer: acc(issuer),
		Allocations:  []ledger.Allocation{{Account: acc(buyerKey), Asset: pay.USD, Amount: 10 * pay.Nano}},
		MinChallenge: 10 * time.Millisecond, MaxChallenge: time.Hour}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), g)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seq := ledger.NewSequencer(l, time.Now)

	origin := bytesOrigin(t)
	auth, _ := proxy.NewStaticAuth([]proxy.StaticBuyer{{Buyer: "victim", User: "u", Password: "p"}})
	pol, _ := egress.New(egress.Config{DefaultDeny: true, Allow: []string{origin}})
	r := &rogueSeller{meter: meter.New(), key: sellerKey}
	if r.proxy, err = proxy.New(proxy.Config{Auth: auth, Egress: &egress.Dialer{Policy: pol}, Meter: r.meter, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if r.socks, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go r.proxy.ServeSOCKS5(r.socks)
	defer r.proxy.Shutdown(context.Background())
	if r.server, err = session.Listen("127.0.0.1:0", sellerKey, g.Domain(), r, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); r.server.Serve(ctx) }()
	defer func() { cancel(); r.server.Close(); <-served }()

	agent, err := StartAgent(context.Background(), AgentConfig{
		Key: buyerKey, Ledger: seq, SellerAddr: r.server.Addr().String(), Seller: acc(sellerKey),
		Asset: pay.USD, Deposit: pay.Nano, Challenge: 20 * time.Millisecond, ClaimWait: 50 * time.Millisecond,
		ListenSOCKS5: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The rogue bills ten times what it relays, as often as it likes.
	var seqNo atomic.Uint64
	bill := func() {
		u := r.meter.Buyer("victim").Usage()
		bytes := 10 * (u.BytesUp + u.BytesDown)
		r.server.SendStatement(agent.Channel(), session.Statement{Seq: seqNo.Add(1), BytesDown: bytes, Owed: pay.OwedForBytes(bytes, pay.Nano/2)})
	}
	billing := make(chan struct{})
	stopBilling := make(chan struct{})
	go func() {
		defer close(billing)
		for {
			select {
			case <-stopBilling:
				return
			case <-time.After(2 * time.Millisecond):
				bill()
			}
		}
	}()
	socks, _, user, pass := agent.LocalEndpoints()
	c, err := proxy.DialSOCKS5(context.Background(), socks, user, pass, "127.0.0.1", portOf(origin))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /bytes/"+strconv.Itoa(4<<20)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	got, _ := io.Copy(io.Discard, c)
	c.Close()
	close(stopBilling)
	<-billing
	testenv.Eventually(t, "the rogue's relay to end", func() bool { return r.meter.Buyer("victim").Usage().ActiveConns == 0 })
	bill() // the final, inflated bill
	testenv.Eventually(t, "the inflated bill to arrive", func() bool { return agent.Progress().Billed >= pay.OwedForBytes(10*4<<20, pay.Nano/2) })
	s, err := agent.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	limit := pay.OwedForBytes(s.BytesCounted+64<<10, pay.Nano/2)
	t.Logf("received %d bytes; counted %d; billed %s; paid %s (limit %s); refund %s", got, s.BytesCounted, s.Billed, s.Paid, limit, s.Refund)
	if got < 4<<20 {
		t.Fatalf("download cut short at %d bytes", got)
	}
	if s.Billed < 5*s.Paid {
		t.Fatalf("the rogue billed only %s against %s paid: the test did not overbill", s.Billed, s.Paid)
	}
	// While relaying, the buyer pays ahead by its prepayment window, and no
	// more; its final payment is for what it counted, plus the tolerance.
	if held := r.held(); s.Paid > limit || held > limit+s.Prepay {
		t.Fatalf("final payment %s, seller holds %s, for %d counted bytes: more than the count plus tolerance (%s) plus the prepayment (%s)", s.Paid, held, s.BytesCounted, limit, s.Prepay)
	}
	if s.Refund != pay.Nano {
		t.Fatalf("refund %s: the rogue never claimed, so the whole deposit must come back", s.Refund)
	}
}

func bytesOrigin(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Path[len("/bytes/"):])
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(make([]byte, n))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func portOf(addr string) uint16 {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return uint16(n)
}
