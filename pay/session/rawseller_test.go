package session

import (
	"context"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/internal/quicnet"
	"github.com/x402/x402/pay"
)

// rawSeller is a QUIC listener with the seller's TLS that speaks the
// protocol by hand, to feed a buyer what a correct seller never sends.
type rawSeller struct {
	e      *env
	ln     *quic.Listener
	told   chan *Error // what the buyer sent back, nil if nothing
	served chan struct{}
}

func newRawSeller(t *testing.T) *rawSeller {
	t.Helper()
	e := &env{ch: pay.ChannelID{0xC4, 0x02}}
	e.sellerKey, e.seller = newKey(t)
	e.buyerKey, e.buyer = newKey(t)
	tlsConf, err := serverTLS(e.sellerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, ep, err := quicnet.Listen("127.0.0.1:0", tlsConf, quicConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawSeller{e: e, ln: ln, told: make(chan *Error, 1), served: make(chan struct{})}
	t.Cleanup(func() {
		_ = ln.Close()
		<-rs.served
		ep.Close()
	})
	return rs
}

// serve accepts one buyer, reads its Hello, runs script, then reports the
// first Error frame the buyer sends back.
func (rs *rawSeller) serve(script func(*quic.Stream)) {
	defer close(rs.served)
	var told *Error
	defer func() { rs.told <- told }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rs.ln.Accept(ctx)
	if err != nil {
		return
	}
	defer func() { _ = conn.CloseWithError(0, "") }()
	s, err := conn.AcceptStream(ctx)
	if err != nil {
		return
	}
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := readFrame(s); err != nil {
		return
	}
	script(s)
	for {
		f, err := readFrame(s)
		if err != nil {
			return
		}
		if pe, ok := f.(*Error); ok {
			told = pe
			return
		}
	}
}

func (rs *rawSeller) dial(t *testing.T) (*BuyerSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Dial(ctx, rs.ln.Addr().String(), rs.e.seller, rs.e.buyerKey, testDomain, rs.e.ch, testLog(t))
}

// peerError is the Error frame the buyer sent the raw seller.
func (rs *rawSeller) peerError(t *testing.T) *Error {
	t.Helper()
	select {
	case pe := <-rs.told:
		return pe
	case <-time.After(10 * time.Second):
		t.Fatal("raw seller did not finish")
		return nil
	}
}
