package sim

import (
	"encoding/binary"
	"fmt"
)

// encoder builds the canonical binary encoding used for signed and hashed
// data: every variable-length field is a 4-byte big-endian length followed
// by the bytes, integers are fixed-width big-endian. There is exactly one
// encoding of any value, so the bytes signed are the bytes checked.
type encoder struct {
	buf []byte
}

// bytes appends a length-prefixed byte string.
func (e *encoder) bytes(b []byte) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// str appends a length-prefixed string.
func (e *encoder) str(s string) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// u32 appends a big-endian uint32.
func (e *encoder) u32(v uint32) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, v)
}

// decoder reads the encoding written by encoder, bounds-checking every field.
type decoder struct {
	buf []byte
	err error
}

// bytes reads a length-prefixed byte string of at most max bytes.
func (d *decoder) bytes(field string, max int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf) < 4 {
		d.err = fmt.Errorf("%w: %s: truncated length", ErrMalformed, field)
		return nil
	}
	n := binary.BigEndian.Uint32(d.buf)
	if uint64(n) > uint64(max) {
		d.err = fmt.Errorf("%w: %s: length %d exceeds %d", ErrMalformed, field, n, max)
		return nil
	}
	if uint64(len(d.buf)-4) < uint64(n) {
		d.err = fmt.Errorf("%w: %s: truncated (%d of %d bytes)", ErrMalformed, field, len(d.buf)-4, n)
		return nil
	}
	out := append([]byte(nil), d.buf[4:4+n]...)
	d.buf = d.buf[4+n:]
	return out
}

// str reads a length-prefixed string of at most max bytes.
func (d *decoder) str(field string, max int) string {
	return string(d.bytes(field, max))
}

// fixed reads a length-prefixed field that must be exactly n bytes long.
func (d *decoder) fixed(field string, n int) []byte {
	b := d.bytes(field, n)
	if d.err == nil && len(b) != n {
		d.err = fmt.Errorf("%w: %s: %d bytes, want %d", ErrMalformed, field, len(b), n)
	}
	return b
}

// end fails unless every byte was consumed.
func (d *decoder) end() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.buf))
	}
	return d.err
}
