// Package wire owns the project's canonical binary encoding for signed
// messages and network frames: big-endian fixed-width integers and
// length-prefixed byte strings, nothing else. One value has exactly one
// encoding, so the bytes signed are the bytes checked, and a decoder rejects
// truncated input, oversized fields and trailing bytes with a clear error.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxBytes bounds any one length-prefixed field a Reader accepts.
const MaxBytes = 1 << 20

// Writer appends encoded values to a byte slice.
type Writer struct{ b []byte }

// NewWriter starts an encoding with room for n bytes.
func NewWriter(n int) *Writer { return &Writer{b: make([]byte, 0, n)} }

// Append starts an encoding at the end of b, in its memory while it has
// room (a caller reusing one buffer for many encodings passes b[:0]).
func Append(b []byte) *Writer { return &Writer{b: b} }

// Bytes returns the encoding so far.
func (w *Writer) Bytes() []byte { return w.b }

// U8 appends one byte.
func (w *Writer) U8(v uint8) *Writer { w.b = append(w.b, v); return w }

// U32 appends a big-endian uint32.
func (w *Writer) U32(v uint32) *Writer { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }

// U64 appends a big-endian uint64.
func (w *Writer) U64(v uint64) *Writer { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }

// Fixed appends b as is (for fixed-size fields such as keys and hashes).
func (w *Writer) Fixed(b []byte) *Writer { w.b = append(w.b, b...); return w }

// Var appends a length-prefixed (uint32) byte string.
func (w *Writer) Var(b []byte) *Writer { return w.U32(uint32(len(b))).Fixed(b) }

// String appends a length-prefixed string.
func (w *Writer) String(s string) *Writer {
	w.b = append(binary.BigEndian.AppendUint32(w.b, uint32(len(s))), s...)
	return w
}

// Bool appends 1 or 0.
func (w *Writer) Bool(v bool) *Writer {
	if v {
		return w.U8(1)
	}
	return w.U8(0)
}

// ErrTruncated is returned when input ends inside a value.
var ErrTruncated = errors.New("wire: truncated input")

// Reader decodes values; the first error sticks and is reported by Err or
// Done, so callers decode a whole message and check once.
type Reader struct {
	b   []byte
	err error
}

// NewReader decodes b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = ErrTruncated
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Fixed copies exactly len(dst) bytes into dst.
func (r *Reader) Fixed(dst []byte) {
	if v := r.take(len(dst)); v != nil {
		copy(dst, v)
	}
}

// Var reads a length-prefixed byte string of at most max bytes (a copy).
func (r *Reader) Var(max int) []byte {
	v := r.field(max)
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

// VarShared reads a length-prefixed byte string of at most max bytes in
// place: the result shares the reader's input, which neither side may
// change afterwards.
func (r *Reader) VarShared(max int) []byte { return r.field(max) }

// String reads a length-prefixed string of at most max bytes.
func (r *Reader) String(max int) string { return string(r.field(max)) }

// field reads a length-prefixed field of at most max bytes, in place.
func (r *Reader) field(max int) []byte {
	n := r.U32()
	if r.err == nil && (int64(n) > int64(max) || n > MaxBytes) {
		r.err = fmt.Errorf("wire: field of %d bytes exceeds its limit of %d", n, max)
		return nil
	}
	return r.take(int(n))
}

// Bool reads a 0 or 1 byte; anything else is an error (one encoding per value).
func (r *Reader) Bool() bool {
	switch r.U8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(errors.New("wire: boolean is neither 0 nor 1"))
		return false
	}
}

// Fail records err unless an earlier error is recorded.
func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Fail records a semantic error found by the caller while decoding.
func (r *Reader) Fail(err error) { r.fail(err) }

// Err returns the first error.
func (r *Reader) Err() error { return r.err }

// Done returns the first error, or an error if input remains.
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("wire: %d trailing bytes", len(r.b))
	}
	return r.err
}
