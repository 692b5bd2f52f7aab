package session

import (
	"bytes"
	"errors"
	"testing"

	"github.com/x402/x402/pay"
)

// sampleFrames is one frame of every type, for round trips and fuzz seeds.
func sampleFrames() []frame {
	chain := &pay.ChainCommit{Root: [32]byte{1, 2, 3}, TickValue: 10, Length: 1000}
	return []frame{
		hello{Version: Version, Channel: pay.ChannelID{0xC4}},
		welcomeFrame{Version: Version, Session: 3, Welcome: Welcome{
			User: "u", Password: "p", SOCKS5: "192.0.2.1:1080", HTTP: "192.0.2.1:8080",
			Asset: pay.USD, PricePerGiB: 500_000_000, CreditWindow: 1 << 26, StatementEvery: 1 << 20,
		}},
		&Error{Code: CodeVoucherRejected, Message: "beyond the deposit"},
		SignedStatement{Statement: Statement{Channel: pay.ChannelID{0xC4}, Seq: 2, BytesUp: 1, BytesDown: 2, Owed: 3}, Sig: [64]byte{9}},
		voucherFrame{pay.SignedVoucher{Voucher: pay.Voucher{Channel: pay.ChannelID{0xC4}, Cumulative: 5, Seq: 1}}},
		voucherFrame{pay.SignedVoucher{Voucher: pay.Voucher{Channel: pay.ChannelID{0xC4}, Cumulative: 5, Seq: 2, Chain: chain}}},
		VoucherAck{Seq: 2, Accepted: 5},
		closeFrame{},
		coopCloseRequest{pay.SignedVoucher{Voucher: pay.Voucher{Channel: pay.ChannelID{0xC4}, Cumulative: 7, Seq: 3}, Sig: [64]byte{8}}},
		coopCloseRequest{pay.SignedVoucher{Voucher: pay.Voucher{Channel: pay.ChannelID{0xC4}, Cumulative: 7, Seq: 4, Chain: chain}, Sig: [64]byte{8}}},
		coopCloseConsent{SellerSig: [64]byte{0xAB, 63: 0xCD}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range sampleFrames() {
		b, err := encodeFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("%s: %v", f.frameType(), err)
		}
		again, err := encodeFrame(got)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoding differs (%v)", f.frameType(), err)
		}
		if _, err := decodeFrame(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s truncated: %v", f.frameType(), err)
		}
		if _, err := decodeFrame(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with a trailing byte: %v", f.frameType(), err)
		}
	}
	big := welcomeFrame{Version: Version, Welcome: Welcome{Asset: pay.USD, User: string(make([]byte, MaxFrameSize))}}
	if _, err := encodeFrame(big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized frame encoded: %v", err)
	}
}

// FuzzDecodeFrame checks that the frame decoder never panics and that what
// it accepts is canonical: re-encoding gives the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		b, err := encodeFrame(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := encodeFrame(fr)
		if err != nil {
			t.Fatalf("re-encode %s: %v", fr.frameType(), err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%s frame is not canonical:\n in %x\nout %x", fr.frameType(), b, again)
		}
	})
}

// FuzzDecodeTick checks the tick datagram decoder the same way.
func FuzzDecodeTick(f *testing.F) {
	f.Add(tick{Session: 1, VoucherSeq: 2, Index: 3, Preimage: [32]byte{4}}.encode())
	f.Add([]byte{datagramTick})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := decodeTick(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v is not ErrMalformed", err)
			}
			return
		}
		if again := tk.encode(); !bytes.Equal(again, b) {
			t.Fatalf("tick is not canonical:\n in %x\nout %x", b, again)
		}
	})
}
