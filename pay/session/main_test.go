package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testDomain = pay.Domain{Chain: "x402-test", Shard: 0}

func newKey(t testing.TB) (ed25519.PrivateKey, pay.Account) {
	t.Helper()
	priv, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return priv, pay.AccountOf(priv.Public().(ed25519.PublicKey))
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tickCall is one SellerHandler.Tick call.
type tickCall struct {
	seq      uint64
	ticks    uint32
	preimage [32]byte
}

// testHandler is a SellerHandler that admits one buyer to one channel and
// records what it sees.
type testHandler struct {
	buyer   pay.Account
	ch      pay.ChannelID
	welcome Welcome
	openErr error
	rejectV func(pay.SignedVoucher) error
	final   *Statement

	mu       sync.Mutex
	vouchers []pay.SignedVoucher
	accepted pay.Amount
	ticks    []tickCall
	changed  chan struct{} // poked on every tick or voucher
	closed   chan error
}

func newTestHandler(buyer pay.Account, ch pay.ChannelID) *testHandler {
	return &testHandler{
		buyer: buyer, ch: ch,
		welcome: Welcome{
			User: "buyer-1", Password: "s3cret", SOCKS5: "127.0.0.1:1080", HTTP: "127.0.0.1:8080",
			Asset: pay.USD, PricePerGiB: 500_000_000, CreditWindow: 64 << 20, StatementEvery: 1 << 20,
		},
		changed: make(chan struct{}, 1),
		closed:  make(chan error, 4),
	}
}

func (h *testHandler) poke() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// refuseWith makes Open refuse every buyer with err.
func (h *testHandler) refuseWith(err error) {
	h.mu.Lock()
	h.openErr = err
	h.mu.Unlock()
}

func (h *testHandler) Open(_ context.Context, buyer pay.Account, ch pay.ChannelID) (Welcome, error) {
	h.mu.Lock()
	openErr := h.openErr
	h.mu.Unlock()
	if openErr != nil {
		return Welcome{}, openErr
	}
	if buyer != h.buyer || ch != h.ch {
		return Welcome{}, &Error{Code: CodeRejected, Message: "not this channel's buyer"}
	}
	return h.welcome, nil
}

func (h *testHandler) Voucher(_ context.Context, _ pay.ChannelID, v pay.SignedVoucher) (pay.Amount, error) {
	if h.rejectV != nil {
		if err := h.rejectV(v); err != nil {
			return 0, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.poke()
	h.vouchers = append(h.vouchers, v)
	h.accepted = max(h.accepted, v.Cumulative)
	return h.accepted, nil
}

func (h *testHandler) Tick(_ pay.ChannelID, seq uint64, ticks uint32, preimage [32]byte) {
	h.mu.Lock()
	h.ticks = append(h.ticks, tickCall{seq, ticks, preimage})
	h.mu.Unlock()
	h.poke()
}

func (h *testHandler) Closed(_ pay.ChannelID, err error) { h.closed <- err }

func (h *testHandler) FinalStatement(ch pay.ChannelID) (Statement, bool) {
	if h.final == nil {
		return Statement{}, false
	}
	return *h.final, true
}

func (h *testHandler) tickCalls() []tickCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]tickCall(nil), h.ticks...)
}

func (h *testHandler) maxTick() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ticks) == 0 {
		return 0
	}
	return h.ticks[len(h.ticks)-1].ticks
}

// waitClosed returns the error the handler's Closed got.
func (h *testHandler) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case err := <-h.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler's Closed was not called")
		return nil
	}
}

// waitUntil waits for cond, woken by the handler and by a ticker that also
// runs retry (to resend datagrams that may have been lost).
func waitUntil(t testing.TB, h *testHandler, what string, cond func() bool, retry func()) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-h.changed:
		case <-tk.C:
			if retry != nil {
				retry()
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// env is a running seller with one channel and its buyer's key.
type env struct {
	sellerKey ed25519.PrivateKey
	seller    pay.Account
	buyerKey  ed25519.PrivateKey
	buyer     pay.Account
	ch        pay.ChannelID
	h         *testHandler
	srv       *Server
}

// newEnv starts a seller on 127.0.0.1; configure lets a test adjust the
// handler before the server starts.
func newEnv(t *testing.T, configure func(*testHandler)) *env {
	t.Helper()
	return newEnvWith(t, configure, nil)
}

// newEnvWith is newEnv with the server's handler built by wrap around the
// test handler (the test handler itself if wrap is nil).
func newEnvWith(t *testing.T, configure func(*testHandler), wrap func(*env) SellerHandler) *env {
	t.Helper()
	e := &env{ch: pay.ChannelID{0xC4, 0x01}}
	e.sellerKey, e.seller = newKey(t)
	e.buyerKey, e.buyer = newKey(t)
	e.h = newTestHandler(e.buyer, e.ch)
	if configure != nil {
		configure(e.h)
	}
	var h SellerHandler = e.h
	if wrap != nil {
		h = wrap(e)
	}
	srv, err := Listen("127.0.0.1:0", e.sellerKey, testDomain, h, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// dial opens the buyer's session, closed when the test ends.
func (e *env) dial(t *testing.T) *BuyerSession {
	t.Helper()
	b, err := e.dialErr(t, e.seller)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func (e *env) dialErr(t *testing.T, seller pay.Account) (*BuyerSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Dial(ctx, e.srv.Addr().String(), seller, e.buyerKey, testDomain, e.ch, testLog(t))
}

// asError returns the *Error in err's chain, failing the test if none.
func asError(t testing.TB, err error) *Error {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v carries no *Error", err)
	}
	return pe
}
