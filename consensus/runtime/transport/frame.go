package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Stream types: the first byte of every stream says what it carries.
const (
	// StreamMessages is a long-lived stream of message frames.
	StreamMessages byte = 'M'
	// StreamStatus asks for one status frame, answered on the same stream.
	StreamStatus byte = 'S'
	// StreamClients is a client's stream for several identities: its first
	// frame attaches them (each signs the replica's and the connection's
	// keys), then it carries their requests, and their replies come back
	// on it.
	StreamClients byte = 'C'
)

// Frame size limits.
const (
	// DefaultMaxFrame bounds a frame from a replica; a state transfer
	// response carries the application's snapshot, so it is generous.
	DefaultMaxFrame = 64 << 20
	// DefaultMaxClientFrame bounds a frame from a client: one request of at
	// most pbft.MaxOpBytes plus its header.
	DefaultMaxClientFrame = 256 << 10
)

// ErrFrameTooLarge is returned (wrapped) for a frame over its limit; the
// stream cannot be resynchronised after it and is closed.
var ErrFrameTooLarge = errors.New("transport: frame too large")

// writeFrame writes one length-prefixed frame to w (not flushed).
func writeFrame(w *bufio.Writer, b []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// readFrame reads one length-prefixed frame of at most max bytes into a
// new buffer.
func readFrame(r *bufio.Reader, max int) ([]byte, error) { return readFrameInto(r, max, nil) }

// readFrameInto reads one length-prefixed frame of at most max bytes into
// buf's memory when it is big enough, else into a new buffer.
func readFrameInto(r *bufio.Reader, max int, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	b := buf[:0]
	if cap(b) < int(n) {
		b = make([]byte, n)
	}
	b = b[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read frame of %d bytes: %w", n, err)
	}
	return b, nil
}
