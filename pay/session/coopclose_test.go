package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/pay"
)

// kindTestCoopClose is what coopHandler signs: the test does not depend on
// the ledger's encoding of a cooperative close.
const kindTestCoopClose pay.Kind = "test-coop-close"

// coopHandler is a testHandler that co-signs cooperative closes with the
// seller's key and records the final vouchers it is asked about.
type coopHandler struct {
	*testHandler
	key    ed25519.PrivateKey
	refuse func(pay.SignedVoucher) error

	mu    sync.Mutex
	calls []pay.SignedVoucher
}

func (h *coopHandler) CoopClose(_ context.Context, ch pay.ChannelID, final pay.SignedVoucher) ([64]byte, error) {
	h.mu.Lock()
	h.calls = append(h.calls, final)
	h.mu.Unlock()
	if ch != h.ch {
		return [64]byte{}, fmt.Errorf("coop close for channel %s, want %s", ch, h.ch)
	}
	if h.refuse != nil {
		if err := h.refuse(final); err != nil {
			return [64]byte{}, err
		}
	}
	return testDomain.Sign(h.key, kindTestCoopClose, final.Payload()), nil
}

func (h *coopHandler) coopCalls() []pay.SignedVoucher {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]pay.SignedVoucher(nil), h.calls...)
}

// newCoopEnv starts a seller whose handler is a CoopCloser.
func newCoopEnv(t *testing.T, refuse func(pay.SignedVoucher) error) (*env, *coopHandler) {
	t.Helper()
	var ch *coopHandler
	e := newEnvWith(t, nil, func(e *env) SellerHandler {
		ch = &coopHandler{testHandler: e.h, key: e.sellerKey, refuse: refuse}
		return ch
	})
	return e, ch
}

func TestCoopCloseConsent(t *testing.T) {
	e, h := newCoopEnv(t, nil)
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	if _, err := b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 100, Seq: 1}.Sign(testDomain, e.buyerKey)); err != nil {
		t.Fatal(err)
	}
	final := pay.Voucher{Channel: e.ch, Cumulative: 150, Seq: 2}.Sign(testDomain, e.buyerKey)
	sig, err := b.RequestCoopClose(ctx, final)
	if err != nil {
		t.Fatal(err)
	}
	if want := testDomain.Sign(e.sellerKey, kindTestCoopClose, final.Payload()); sig != want {
		t.Fatalf("consent signature %x, want %x", sig, want)
	}
	if !testDomain.Verify(e.seller, kindTestCoopClose, final.Payload(), sig) {
		t.Fatal("consent signature does not verify")
	}
	if calls := h.coopCalls(); len(calls) != 1 || calls[0] != final {
		t.Fatalf("handler saw %+v, want the final voucher once", calls)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.h.waitClosed(t); err != nil {
		t.Fatalf("Closed(%v), want nil", err)
	}
	if _, err := b.RequestCoopClose(ctx, final); !errors.Is(err, ErrClosed) {
		t.Fatalf("coop close after close: %v", err)
	}
}

// TestCoopCloseInterleavedWithVouchers sends vouchers and coop close
// requests concurrently: each must get its own answer.
func TestCoopCloseInterleavedWithVouchers(t *testing.T) {
	e, _ := newCoopEnv(t, func(v pay.SignedVoucher) error {
		if v.Cumulative%3 == 0 {
			return errors.New("not a multiple")
		}
		return nil
	})
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	const n = 40
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		seq := uint64(i + 1)
		wg.Go(func() {
			v := pay.Voucher{Channel: e.ch, Cumulative: pay.Amount(seq), Seq: seq}.Sign(testDomain, e.buyerKey)
			if i%2 == 0 {
				ack, err := b.SendVoucher(ctx, v)
				if err != nil || ack.Seq != seq {
					errs <- fmt.Errorf("voucher %d: ack %+v, %v", seq, ack, err)
				}
				return
			}
			sig, err := b.RequestCoopClose(ctx, v)
			switch {
			case seq%3 == 0:
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != CodeCoopRefused || pe.Message != "not a multiple" {
					errs <- fmt.Errorf("coop close %d: %v, want a refusal", seq, err)
				}
			case err != nil:
				errs <- fmt.Errorf("coop close %d: %w", seq, err)
			case !testDomain.Verify(e.seller, kindTestCoopClose, v.Payload(), sig):
				errs <- fmt.Errorf("coop close %d: consent is not for this voucher", seq)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}

func TestCoopCloseHandlerRefuses(t *testing.T) {
	e, h := newCoopEnv(t, func(v pay.SignedVoucher) error {
		switch v.Cumulative {
		case 1:
			return errors.New("a dispute is pending on the channel")
		case 2:
			return &Error{Code: CodeNone, Message: "no code chosen"}
		case 3:
			return fmt.Errorf("ledger: %w", &Error{Code: CodeInternal, Message: "ledger unreachable"})
		}
		return nil
	})
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	for i, want := range []string{"a dispute is pending on the channel", "no code chosen"} {
		seq := uint64(i + 1)
		_, err := b.RequestCoopClose(ctx, pay.Voucher{Channel: e.ch, Cumulative: pay.Amount(seq), Seq: seq}.Sign(testDomain, e.buyerKey))
		if pe := asError(t, err); pe.Code != CodeCoopRefused || pe.Message != want {
			t.Fatalf("refusal %d: %v", seq, err)
		}
		t.Logf("refused: %v", err)
		// The session goes on: a voucher is still acknowledged.
		ack, err := b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 10 * pay.Amount(seq), Seq: 10 + seq}.Sign(testDomain, e.buyerKey))
		if err != nil || ack != (VoucherAck{Seq: 10 + seq, Accepted: 10 * pay.Amount(seq)}) {
			t.Fatalf("voucher after refusal %d: %+v, %v", seq, ack, err)
		}
	}
	if err := b.Err(); err != nil {
		t.Fatalf("session ended after refusals: %v", err)
	}

	// An *Error with a fatal code ends the session with that code.
	_, err := b.RequestCoopClose(ctx, pay.Voucher{Channel: e.ch, Cumulative: 3, Seq: 3}.Sign(testDomain, e.buyerKey))
	if pe := asError(t, err); pe.Code != CodeInternal || pe.Message != "ledger unreachable" {
		t.Fatalf("fatal handler error: %v", err)
	}
	<-b.Done()
	if pe := asError(t, b.Err()); pe.Code != CodeInternal {
		t.Fatalf("session error %v, want internal", b.Err())
	}
	if err := e.h.waitClosed(t); err == nil {
		t.Fatal("Closed(nil) after a fatal coop close error")
	}
	if n := len(h.coopCalls()); n != 3 {
		t.Fatalf("handler called %d times, want 3", n)
	}
}

func TestCoopCloseUnsupported(t *testing.T) {
	e := newEnv(t, nil) // testHandler is no CoopCloser
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	_, err := b.RequestCoopClose(ctx, pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 1}.Sign(testDomain, e.buyerKey))
	if pe := asError(t, err); pe.Code != CodeCoopRefused || pe.Message != "seller does not support cooperative close" {
		t.Fatalf("coop close with a handler that is no CoopCloser: %v", err)
	}
	t.Logf("refused: %v", err)
	ack, err := b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 2}.Sign(testDomain, e.buyerKey))
	if err != nil || ack != (VoucherAck{Seq: 2, Accepted: 5}) {
		t.Fatalf("voucher after the refusal: %+v, %v", ack, err)
	}
}

func TestCoopCloseChecksVoucherBeforeHandler(t *testing.T) {
	e, h := newCoopEnv(t, nil)
	b := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	other := pay.Voucher{Channel: pay.ChannelID{7}, Cumulative: 5, Seq: 1}.Sign(testDomain, e.buyerKey)
	if _, err := b.RequestCoopClose(ctx, other); err == nil || errors.As(err, new(*Error)) {
		t.Fatalf("coop close for another channel was sent: %v", err)
	}
	// Past the buyer's own check, the seller refuses it.
	_, err := b.requestCoopClose(ctx, other)
	if pe := asError(t, err); pe.Code != CodeCoopRefused || !strings.Contains(pe.Message, "on the session of channel") {
		t.Fatalf("coop close for another channel: %v", err)
	}

	otherKey, _ := newKey(t)
	forged := pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 2}.Sign(testDomain, otherKey)
	_, err = b.RequestCoopClose(ctx, forged)
	if pe := asError(t, err); pe.Code != CodeCoopRefused || !strings.Contains(pe.Message, pay.ErrBadSignature.Error()) {
		t.Fatalf("forged coop close: %v", err)
	}
	otherDomain := pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 3}.Sign(pay.Domain{Chain: "elsewhere"}, e.buyerKey)
	_, err = b.RequestCoopClose(ctx, otherDomain)
	if pe := asError(t, err); pe.Code != CodeCoopRefused {
		t.Fatalf("coop close signed in another domain: %v", err)
	}
	if calls := h.coopCalls(); len(calls) != 0 {
		t.Fatalf("handler was asked about %d unchecked vouchers", len(calls))
	}

	// The session goes on and a good request reaches the handler.
	if _, err := b.SendVoucher(ctx, pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 4}.Sign(testDomain, e.buyerKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RequestCoopClose(ctx, pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 5}.Sign(testDomain, e.buyerKey)); err != nil {
		t.Fatal(err)
	}
	if calls := h.coopCalls(); len(calls) != 1 || calls[0].Seq != 5 {
		t.Fatalf("handler calls %+v, want seq 5 only", calls)
	}
}

func TestCoopCloseRespectsContext(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	e, _ := newCoopEnv(t, func(pay.SignedVoucher) error {
		close(entered)
		<-release
		return nil
	})
	b := e.dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.RequestCoopClose(ctx, pay.Voucher{Channel: e.ch, Cumulative: 5, Seq: 1}.Sign(testDomain, e.buyerKey))
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled coop close: %v", err)
	}
	close(release)
	// The late consent is dropped; the session goes on in order.
	vctx, vcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer vcancel()
	ack, err := b.SendVoucher(vctx, pay.Voucher{Channel: e.ch, Cumulative: 6, Seq: 2}.Sign(testDomain, e.buyerKey))
	if err != nil || ack.Seq != 2 {
		t.Fatalf("voucher after a cancelled coop close: %+v, %v", ack, err)
	}
}

// TestCoopCloseOldSeller: a seller that predates cooperative close rejects
// the request as an unknown frame type and ends the session.
func TestCoopCloseOldSeller(t *testing.T) {
	rs := newRawSeller(t)
	got := make(chan frame, 1)
	go rs.serve(func(s *quic.Stream) {
		_, _ = s.Write(mustEncode(t, welcomeFrame{Version: Version, Welcome: Welcome{Asset: pay.USD}}))
		f, err := readFrame(s)
		if err != nil {
			got <- nil
			return
		}
		got <- f
		_, _ = s.Write(mustEncode(t, &Error{Code: CodeProtocol, Message: "read frame: malformed frame: unknown frame type 8"}))
	})
	b, err := rs.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = b.RequestCoopClose(ctx, pay.Voucher{Channel: rs.e.ch, Cumulative: 1, Seq: 1}.Sign(testDomain, rs.e.buyerKey))
	if pe := asError(t, err); pe.Code != CodeProtocol || !strings.Contains(pe.Message, "unknown frame type 8") {
		t.Fatalf("coop close with an old seller: %v", err)
	}
	t.Logf("old seller: %v", err)
	if f := <-got; f == nil || f.frameType() != typeCoopCloseRequest {
		t.Fatalf("seller read %v, want a coop close request", f)
	}
	<-b.Done()
}

// TestBuyerRejectsUnaskedConsent: a consent without a pending request, or
// answering a voucher, is the seller's protocol error.
func TestBuyerRejectsUnaskedConsent(t *testing.T) {
	rs := newRawSeller(t)
	go rs.serve(func(s *quic.Stream) {
		_, _ = s.Write(mustEncode(t, welcomeFrame{Version: Version, Welcome: Welcome{Asset: pay.USD}}))
		_, _ = s.Write(mustEncode(t, coopCloseConsent{}))
	})
	b, err := rs.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	<-b.Done()
	if pe := rs.peerError(t); pe == nil || pe.Code != CodeProtocol || !strings.Contains(pe.Message, "coop close consent without a pending request") {
		t.Fatalf("seller was told %v, want a protocol error", pe)
	}
}

func TestBuyerRejectsConsentToVoucher(t *testing.T) {
	rs := newRawSeller(t)
	go rs.serve(func(s *quic.Stream) {
		_, _ = s.Write(mustEncode(t, welcomeFrame{Version: Version, Welcome: Welcome{Asset: pay.USD}}))
		if _, err := readFrame(s); err != nil { // the voucher
			return
		}
		_, _ = s.Write(mustEncode(t, coopCloseConsent{}))
	})
	b, err := rs.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = b.SendVoucher(ctx, pay.Voucher{Channel: rs.e.ch, Cumulative: 1, Seq: 1}.Sign(testDomain, rs.e.buyerKey))
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("voucher answered with a consent: %v", err)
	}
	if pe := rs.peerError(t); pe == nil || pe.Code != CodeProtocol {
		t.Fatalf("seller was told %v, want a protocol error", pe)
	}
}

// TestSellerRejectsMalformedCoopFrames: malformed or misdirected coop close
// frames end the session with a protocol error.
func TestSellerRejectsMalformedCoopFrames(t *testing.T) {
	sv := pay.SignedVoucher{Voucher: pay.Voucher{Channel: pay.ChannelID{0xC4, 0x01}, Cumulative: 1, Seq: 1}}
	for name, b := range map[string]func(t *testing.T) []byte{
		"consent from the buyer": func(t *testing.T) []byte { return mustEncode(t, coopCloseConsent{}) },
		"request with bad bool": func(t *testing.T) []byte {
			b := mustEncode(t, coopCloseRequest{sv})
			b[4+1+32+8+8] = 2
			return b
		},
		"short request": func(t *testing.T) []byte {
			b := mustEncode(t, coopCloseRequest{sv})
			b = b[:len(b)-1]
			b[3]--
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			e, h := newCoopEnv(t, nil)
			conn, stream := rawDial(t, e)
			if _, err := stream.Write(mustEncode(t, hello{Version: Version, Channel: e.ch})); err != nil {
				t.Fatal(err)
			}
			_ = stream.SetReadDeadline(time.Now().Add(10 * time.Second))
			if f, err := readFrame(stream); err != nil {
				t.Fatal(err)
			} else if _, ok := f.(welcomeFrame); !ok {
				t.Fatalf("got %s, want welcome", f.frameType())
			}
			if _, err := stream.Write(b(t)); err != nil {
				t.Fatal(err)
			}
			pe := expectError(t, stream, CodeProtocol)
			t.Logf("seller said: %s", pe.Message)
			_ = conn.CloseWithError(0, "")
			if err := e.h.waitClosed(t); err == nil {
				t.Fatal("Closed(nil) after a malformed frame")
			}
			if n := len(h.coopCalls()); n != 0 {
				t.Fatalf("handler called %d times", n)
			}
		})
	}
}

func TestCoopCloseFramesStrict(t *testing.T) {
	req := mustEncode(t, coopCloseRequest{pay.SignedVoucher{Voucher: pay.Voucher{Channel: pay.ChannelID{1}, Seq: 1}, Sig: [64]byte{2}}})
	bad := bytes.Clone(req)
	bad[4+1+32+8+8] = 2 // the chain's presence flag
	if _, err := decodeFrame(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("request with a bad presence flag: %v", err)
	}
	if _, err := decodeFrame([]byte{0, 0, 0, 1, byte(typeCoopCloseConsent)}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty consent: %v", err)
	}
	if _, err := decodeFrame([]byte{0, 0, 0, 1, byte(typeCoopCloseRequest)}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty request: %v", err)
	}
	consent := coopCloseConsent{SellerSig: [64]byte{1, 63: 2}}
	f, err := decodeFrame(mustEncode(t, consent))
	if err != nil || f != frame(consent) {
		t.Fatalf("consent round trip: %v, %v", f, err)
	}
	if typeCoopCloseRequest.String() != "coop close request" || typeCoopCloseConsent.String() != "coop close consent" || CodeCoopRefused.String() != "coop close refused" {
		t.Fatal("names of the coop close frames or code")
	}
}
