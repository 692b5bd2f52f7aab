package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/x402/x402/pay"
)

// sampleTxResults are results of each shape: applied with and without a
// channel, rejected, and without a transaction id.
func sampleTxResults() []txResult {
	id := [32]byte{0xab, 0xcd}
	return []txResult{
		{Receipt: Receipt{Seq: 7, Paid: 999_990, Fee: 10}, Tx: id},
		{Receipt: Receipt{Seq: 1 << 40, Channel: pay.ChannelID{1, 2, 3}, Paid: 5, Refund: 6}, Tx: id},
		{Receipt: Receipt{Err: "nonce 3 is ahead (next is 2)"}, Tx: id},
		{Receipt: Receipt{Err: "decode transaction: truncated"}},
	}
}

func TestTxResultRoundTrips(t *testing.T) {
	for _, want := range sampleTxResults() {
		b := want.marshal()
		got, err := unmarshalTxResult(b)
		if err != nil || got != want {
			t.Fatalf("%+v: decoded %+v, %v", want, got, err)
		}
		for n := range len(b) {
			if _, err := unmarshalTxResult(b[:n]); err == nil {
				t.Fatalf("%+v: the first %d of %d bytes decoded", want, n, len(b))
			}
		}
	}
	long := txResult{Receipt: Receipt{Err: strings.Repeat("x", maxResultErr+1)}}
	if tr, err := unmarshalTxResult(long.marshal()); err != nil || len(tr.Err) != maxResultErr {
		t.Fatalf("an overlong reason: %d bytes decoded, %v; want it cut to %d", len(tr.Err), err, maxResultErr)
	}
	for name, b := range map[string][]byte{
		"json":            []byte(`{"seq":1,"tx":"ab"}`),
		"zero channel":    append(append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, make([]byte, 32)...), make([]byte, 25)...),
		"trailing byte":   append(sampleTxResults()[0].marshal(), 0),
		"boolean of 2":    {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2},
		"version 2":       append([]byte{2}, sampleTxResults()[0].marshal()[1:]...),
		"reason too long": {1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff},
	} {
		if tr, err := unmarshalTxResult(b); err == nil {
			t.Errorf("%s: decoded as %+v", name, tr)
		}
	}
}

// FuzzUnmarshalTxResult decodes what a replica might return: the decoder
// never panics, and what it accepts has exactly that encoding.
func FuzzUnmarshalTxResult(f *testing.F) {
	for _, tr := range sampleTxResults() {
		f.Add(tr.marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := unmarshalTxResult(b)
		if err != nil {
			return
		}
		if got := tr.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
	})
}
