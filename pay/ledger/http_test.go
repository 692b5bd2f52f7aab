package ledger

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestSequencer(t *testing.T) (*Sequencer, *Ledger, *fakeClock) {
	l := openTest(t, testGenesis())
	clock := &fakeClock{}
	clock.ns.Store(1_700_000_000_000_000_000)
	return NewSequencer(l, clock.now), l, clock
}

func TestHTTPTransportRoundTripsEveryCall(t *testing.T) {
	seq, l, clock := newTestSequencer(t)
	srv := httptest.NewServer(NewHTTPHandler(seq))
	defer srv.Close()
	ctx := context.Background()
	c := NewHTTPClient(srv.URL)
	if tr := c.(*httpClient).hc.Transport.(*http.Transport); tr.Proxy != nil {
		t.Fatal("the client uses a proxy from the environment")
	}

	g, err := c.Genesis(ctx)
	if err != nil || !reflect.DeepEqual(g, l.Genesis()) {
		t.Fatalf("genesis over HTTP: %+v, %v", g, err)
	}
	d := g.Domain()
	open, err := SubmitBody(ctx, c, d, buyerP.priv, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: pay.Nano, Challenge: time.Second})
	if err != nil || open.Seq != 1 || open.Channel == (pay.ChannelID{}) {
		t.Fatalf("open over HTTP: %+v, %v", open, err)
	}
	id := open.Channel
	claim, err := SubmitBody(ctx, c, d, sellerP.priv, Claim{Voucher: voucher(l, id, 100_000, 1)})
	if err != nil || claim.Paid != 99_999 || claim.Fee != 1 || claim.Channel != id {
		t.Fatalf("claim over HTTP: %+v, %v", claim, err)
	}
	for _, a := range []pay.Account{buyerP.acct, sellerP.acct, feeP.acct, pay.Account{9}} {
		remote, err := c.Account(ctx, a)
		local, _ := l.Account(a)
		if err != nil || !reflect.DeepEqual(remote, local) {
			t.Fatalf("account %s over HTTP: %+v, %v; want %+v", a, remote, err, local)
		}
	}
	remote, err := c.Channel(ctx, id)
	local, _ := l.Channel(id)
	if err != nil || remote != local {
		t.Fatalf("channel over HTTP: %+v, %v; want %+v", remote, err, local)
	}
	if _, err := c.Channel(ctx, pay.ChannelID{7}); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel over HTTP: %v", err)
	}

	// A rejection is a receipt, and SubmitBody makes it an error.
	r, err := SubmitBody(ctx, c, d, otherP.priv, Finalize{Channel: id})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "must start the close first") || r.Err == "" {
		t.Fatalf("rejected finalize: %+v, %v", r, err)
	}
	if _, err := SubmitBody(ctx, c, d, buyerP.priv, StartClose{Channel: id}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	fin, err := SubmitBody(ctx, c, d, otherP.priv, Finalize{Channel: id})
	if err != nil || fin.Refund != pay.Nano-100_000 {
		t.Fatalf("finalize over HTTP: %+v, %v", fin, err)
	}

	// A forged transaction comes back as a rejected receipt.
	tx := Tx{From: buyerP.acct, Nonce: 3, Body: Faucet{Asset: usd}}.Sign(d, otherP.priv)
	if r, err := c.Submit(ctx, tx); err != nil || r.Err != "signature does not verify" {
		t.Fatalf("forged tx over HTTP: %+v, %v", r, err)
	}
}

func TestHTTPHandlerRejectsBadInput(t *testing.T) {
	seq, _, _ := newTestSequencer(t)
	srv := httptest.NewServer(NewHTTPHandler(seq))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		body         []byte
		code         int
		want         string
	}{
		{"POST", "/v1/tx", []byte("garbage"), 400, "decode tx"},
		{"POST", "/v1/tx", make([]byte, MaxTxSize+1), 413, "exceeds"},
		{"GET", "/v1/tx", nil, 405, ""},
		{"GET", "/v1/account/x402_nonsense", nil, 400, "account id"},
		{"GET", "/v1/channel/zz", nil, 400, "channel id"},
		{"GET", "/v1/channel/" + pay.ChannelID{1}.String(), nil, 404, "unknown channel"},
		{"GET", "/v1/nothing", nil, 404, ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, bytes.NewReader(c.body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s %s: %d %q, want %d mentioning %q", c.method, c.path, resp.StatusCode, b.String(), c.code, c.want)
		}
	}
}

// racingClient lets another transaction of the same account take the nonce
// between SubmitBody's read and its submit, once.
type racingClient struct {
	Client
	once  sync.Once
	rival SignedTx
}

func (r *racingClient) Submit(ctx context.Context, tx SignedTx) (Receipt, error) {
	r.once.Do(func() { r.Client.Submit(ctx, r.rival) })
	return r.Client.Submit(ctx, tx)
}

func TestSubmitBodyRetriesANonceRace(t *testing.T) {
	seq, l, _ := newTestSequencer(t)
	rival := Tx{From: buyerP.acct, Nonce: 1, Body: Transfer{To: otherP.acct, Asset: usd, Amount: 5}}.Sign(l.Domain(), buyerP.priv)
	c := &racingClient{Client: seq, rival: rival}
	r, err := SubmitBody(context.Background(), c, l.Domain(), buyerP.priv, Transfer{To: sellerP.acct, Asset: usd, Amount: 7})
	if err != nil || r.Seq != 2 {
		t.Fatalf("after a nonce race: %+v, %v", r, err)
	}
	if got := balance(t, l, sellerP.acct, usd); got != 7 {
		t.Fatalf("seller got %d", got)
	}
}

func TestSequencerConcurrentSubmitsAndMonotonicTime(t *testing.T) {
	l := openTest(t, testGenesis())
	var calls atomic.Int64
	// A clock that jumps backwards: the sequencer's timestamps must not.
	clock := func() time.Time { return time.Unix(0, 1_000_000-calls.Add(1)) }
	seq := NewSequencer(l, clock)
	srv := httptest.NewServer(NewHTTPHandler(seq))
	defer srv.Close()
	c := NewHTTPClient(srv.URL)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, p := range []party{buyerP, otherP, sellerP} {
		wg.Go(func() {
			for range 5 {
				if _, err := SubmitBody(ctx, c, l.Domain(), p.priv, Faucet{Asset: pay.X402}); err != nil && !strings.Contains(err.Error(), "faucet") {
					errs <- err
					return
				}
				if _, err := SubmitBody(ctx, c, l.Domain(), p.priv, StartClose{Channel: pay.ChannelID{1}}); !errors.Is(err, ErrRejected) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	id := buyerP.must(t, l, 0, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 10, Challenge: time.Second}).Channel
	if _, err := seq.Submit(ctx, buyerP.tx(t, l, StartClose{Channel: id})); err != nil {
		t.Fatal(err)
	}
	ch, _ := l.Channel(id)
	if want := int64(1_000_000-1) + int64(time.Second); ch.CloseAt != want {
		t.Fatalf("close at %d, want %d: the sequencer's time went backwards", ch.CloseAt, want)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := seq.Submit(ctxDone, buyerP.tx(t, l, StartClose{Channel: id})); !errors.Is(err, context.Canceled) {
		t.Fatalf("submit with a cancelled context: %v", err)
	}
}
