package pay

import (
	"bytes"
	"testing"
)

// TestSignedBytesLayout pins the bytes every signature of the project
// covers: the kind's context, the chain, the shard and the payload, each
// length-prefixed. Changing them would void every signature ever made.
func TestSignedBytesLayout(t *testing.T) {
	d := Domain{Chain: "x402-test", Shard: 7}
	want := []byte{}
	want = append(want, 0, 0, 0, 10)
	want = append(want, "x402/tx/v1"...)
	want = append(want, 0, 0, 0, 9)
	want = append(want, "x402-test"...)
	want = append(want, 0, 0, 0, 7)
	want = append(want, 0, 0, 0, 3, 'a', 'b', 'c')
	if got := d.SignedBytes(KindTx, []byte("abc")); !bytes.Equal(got, want) {
		t.Fatalf("signed bytes\n got %x\nwant %x", got, want)
	}
	prefix := []byte("kept")
	if got := d.AppendSignedBytes(prefix, KindTx, []byte("abc")); !bytes.Equal(got, append([]byte("kept"), want...)) {
		t.Fatalf("appended signed bytes %x", got)
	}
}
