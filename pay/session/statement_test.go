package session

import (
	"errors"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/pay"
)

func TestBuyerRejectsForgedStatement(t *testing.T) {
	rs := newRawSeller(t)
	forger, _ := newKey(t)
	go rs.serve(func(s *quic.Stream) {
		_, _ = s.Write(mustEncode(t, welcomeFrame{Version: Version, Session: 1, Welcome: Welcome{Asset: pay.USD}}))
		st := Statement{Channel: rs.e.ch, Seq: 1, BytesUp: 1 << 30, Owed: 1}
		_, _ = s.Write(mustEncode(t, st.Sign(testDomain, forger)))
	})
	b, err := rs.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	<-b.Done()
	if !errors.Is(b.Err(), pay.ErrBadSignature) {
		t.Fatalf("buyer's error after a forged statement: %v", b.Err())
	}
	for st := range b.Statements() {
		t.Fatalf("forged statement delivered: %+v", st)
	}
	if pe := rs.peerError(t); pe == nil || pe.Code != CodeBadStatement {
		t.Fatalf("seller was told %v, want a bad-statement error", pe)
	}
	_ = b.Close()
}

func TestBuyerRejectsReplayedStatement(t *testing.T) {
	rs := newRawSeller(t)
	go rs.serve(func(s *quic.Stream) {
		_, _ = s.Write(mustEncode(t, welcomeFrame{Version: Version, Session: 1, Welcome: Welcome{Asset: pay.USD}}))
		st := Statement{Channel: rs.e.ch, Seq: 5, Owed: 100}
		_, _ = s.Write(mustEncode(t, st.Sign(testDomain, rs.e.sellerKey)))
		_, _ = s.Write(mustEncode(t, st.Sign(testDomain, rs.e.sellerKey)))
	})
	b, err := rs.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	<-b.Done()
	if pe := rs.peerError(t); pe == nil || pe.Code != CodeBadStatement {
		t.Fatalf("seller was told %v, want a bad-statement error", pe)
	}
	var got []SignedStatement
	for st := range b.Statements() {
		got = append(got, st)
	}
	if len(got) != 1 || got[0].Seq != 5 || b.Err() == nil {
		t.Fatalf("statements %+v, err %v", got, b.Err())
	}
	_ = b.Close()
}

func TestStatementDomainSeparation(t *testing.T) {
	key, seller := newKey(t)
	st := Statement{Channel: pay.ChannelID{1}, Seq: 1, BytesUp: 10, BytesDown: 20, Owed: 3}.Sign(testDomain, key)
	if err := st.Verify(testDomain, seller); err != nil {
		t.Fatal(err)
	}
	if err := st.Verify(pay.Domain{Chain: "x402-main"}, seller); err == nil {
		t.Fatal("statement verified in another domain")
	}
	// A voucher signature over the same bytes never verifies as a statement.
	forged := st
	forged.Sig = testDomain.Sign(key, pay.KindVoucher, st.Payload())
	if err := forged.Verify(testDomain, seller); err == nil {
		t.Fatal("voucher-kind signature verified as a statement")
	}
	altered := st
	altered.Owed++
	if err := altered.Verify(testDomain, seller); err == nil {
		t.Fatal("altered statement verified")
	}
}
