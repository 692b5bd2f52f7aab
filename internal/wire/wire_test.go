package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTripAndStrictness(t *testing.T) {
	w := NewWriter(64).U8(7).U32(1 << 30).U64(1<<63 + 5).Var([]byte("abc")).String("hé").Bool(true).Fixed([]byte{9, 9})
	enc := w.Bytes()
	r := NewReader(enc)
	var fixed [2]byte
	if r.U8() != 7 || r.U32() != 1<<30 || r.U64() != 1<<63+5 || !bytes.Equal(r.Var(3), []byte("abc")) || r.String(8) != "hé" || !r.Bool() {
		t.Fatal("round trip changed a value")
	}
	r.Fixed(fixed[:])
	if err := r.Done(); err != nil || fixed != [2]byte{9, 9} {
		t.Fatalf("Done = %v, fixed %v", err, fixed)
	}
	for i := range enc {
		r := NewReader(enc[:i])
		r.U8()
		r.U32()
		r.U64()
		r.Var(3)
		r.String(8)
		r.Bool()
		r.Fixed(fixed[:])
		if r.Done() == nil {
			t.Fatalf("truncation at %d bytes not detected", i)
		}
	}
	if err := NewReader(append(enc, 0)).Done(); err == nil {
		t.Fatal("trailing bytes not detected")
	}
	r = NewReader(NewWriter(8).Var([]byte("toolong")).Bytes())
	if r.Var(3); r.Err() == nil {
		t.Fatal("oversized field not detected")
	}
	r = NewReader([]byte{2})
	if r.Bool(); r.Err() == nil {
		t.Fatal("non-canonical boolean accepted")
	}
	r = NewReader(nil)
	r.U64()
	if !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("empty input: %v, want ErrTruncated", r.Err())
	}
}
