package session

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/internal/quicnet"
	"github.com/x402/x402/pay"
)

func TestBuyerRefusesWrongSellerKey(t *testing.T) {
	e := newEnv(t, nil)
	_, impostor := newKey(t)
	_, err := e.dialErr(t, impostor)
	if !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("dial with the wrong seller account: %v", err)
	}
	t.Logf("refused: %v", err)
}

func TestSellerRejectsBuyer(t *testing.T) {
	e := newEnv(t, nil)
	stranger, _ := newKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, e.srv.Addr().String(), e.seller, stranger, testDomain, e.ch, testLog(t))
	if pe := asError(t, err); pe.Code != CodeRejected || pe.Message != "not this channel's buyer" {
		t.Fatalf("stranger's dial: %v", err)
	}

	e.h.refuseWith(errors.New("channel not funded"))
	_, err = e.dialErr(t, e.seller)
	if pe := asError(t, err); pe.Code != CodeRejected || !strings.Contains(pe.Message, "channel not funded") {
		t.Fatalf("handler's refusal: %v", err)
	}
}

// rawDial opens a control stream to the seller without the buyer's protocol.
func rawDial(t *testing.T, e *env) (*quic.Conn, *quic.Stream) {
	t.Helper()
	tlsConf, err := clientTLS(e.buyerKey, e.seller)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, ep, err := quicnet.Dial(ctx, e.srv.Addr().String(), tlsConf, quicConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, ""); ep.Close() })
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return conn, stream
}

// expectError reads frames until the seller's Error.
func expectError(t *testing.T, stream *quic.Stream, code Code) *Error {
	t.Helper()
	_ = stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := readFrame(stream)
		if err != nil {
			t.Fatalf("awaiting error frame: %v", err)
		}
		if pe, ok := f.(*Error); ok {
			if pe.Code != code {
				t.Fatalf("error frame %v, want code %s", pe, code)
			}
			return pe
		}
	}
}

func mustEncode(t *testing.T, f frame) []byte {
	t.Helper()
	b, err := encodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSellerRejectsUnknownVersion(t *testing.T) {
	e := newEnv(t, nil)
	_, stream := rawDial(t, e)
	if _, err := stream.Write(mustEncode(t, hello{Version: 99, Channel: e.ch})); err != nil {
		t.Fatal(err)
	}
	pe := expectError(t, stream, CodeVersion)
	if !strings.Contains(pe.Message, "unsupported protocol version 99") {
		t.Fatalf("version error message %q", pe.Message)
	}
}

func TestBuyerRejectsUnknownVersion(t *testing.T) {
	rs := newRawSeller(t)
	go rs.serve(func(s *quic.Stream) {
		_, _ = s.Write(mustEncode(t, welcomeFrame{Version: 7, Welcome: Welcome{Asset: pay.USD}}))
	})
	_, err := rs.dial(t)
	if err == nil || !strings.Contains(err.Error(), "protocol version 7") {
		t.Fatalf("dial a seller speaking version 7: %v", err)
	}
	if pe := rs.peerError(t); pe == nil || pe.Code != CodeVersion {
		t.Fatalf("seller was told %v, want a version error", pe)
	}
}

func TestSellerRejectsMalformedFrames(t *testing.T) {
	welcomed := func(t *testing.T, e *env, stream *quic.Stream) {
		if _, err := stream.Write(mustEncode(t, hello{Version: Version, Channel: e.ch})); err != nil {
			t.Fatal(err)
		}
		_ = stream.SetReadDeadline(time.Now().Add(10 * time.Second))
		if f, err := readFrame(stream); err != nil {
			t.Fatal(err)
		} else if _, ok := f.(welcomeFrame); !ok {
			t.Fatalf("got %s, want welcome", f.frameType())
		}
	}
	sv := pay.Voucher{Channel: pay.ChannelID{0xC4, 0x01}, Cumulative: 1, Seq: 1}
	voucher := func(t *testing.T) []byte { return mustEncode(t, voucherFrame{pay.SignedVoucher{Voucher: sv}}) }
	for name, tc := range map[string]struct {
		afterWelcome bool
		bytes        func(t *testing.T) []byte
	}{
		"garbage first frame": {false, func(*testing.T) []byte { return []byte{0, 0, 0, 3, 0xEE, 1, 2} }},
		"oversized length": {false, func(*testing.T) []byte {
			return binary.BigEndian.AppendUint32(nil, MaxFrameSize+1)
		}},
		"empty frame":        {false, func(*testing.T) []byte { return []byte{0, 0, 0, 0} }},
		"statement as first": {false, func(t *testing.T) []byte { return mustEncode(t, SignedStatement{}) }},
		"short hello":        {false, func(*testing.T) []byte { return []byte{0, 0, 0, 3, byte(typeHello), 0, 0} }},
		"voucher with trailing bytes": {true, func(t *testing.T) []byte {
			b := voucher(t)
			binary.BigEndian.PutUint32(b, binary.BigEndian.Uint32(b)+1)
			return append(b, 0)
		}},
		"voucher with bad bool": {true, func(t *testing.T) []byte {
			b := voucher(t)
			b[4+1+32+8+8] = 2 // the chain's presence flag
			return b
		}},
		"unknown frame type": {true, func(*testing.T) []byte { return []byte{0, 0, 0, 1, 0x7F} }},
		"ack from the buyer": {true, func(t *testing.T) []byte { return mustEncode(t, VoucherAck{}) }},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			conn, stream := rawDial(t, e)
			if tc.afterWelcome {
				welcomed(t, e, stream)
			}
			if _, err := stream.Write(tc.bytes(t)); err != nil {
				t.Fatal(err)
			}
			pe := expectError(t, stream, CodeProtocol)
			t.Logf("seller said: %s", pe.Message)
			_ = conn.CloseWithError(0, "")
			if tc.afterWelcome {
				if err := e.h.waitClosed(t); err == nil {
					t.Fatal("Closed(nil) after a malformed frame")
				}
			}
		})
	}
}
