package session

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// control is one side of the control stream; writes of whole frames are
// serialised and bounded by writeTimeout.
type control struct {
	stream *quic.Stream
	mu     sync.Mutex
}

// write sends one frame.
func (c *control) write(f frame) error {
	b, err := encodeFrame(f)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stream.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("write %s frame: %w", f.frameType(), err)
	}
	if _, err := c.stream.Write(b); err != nil {
		return fmt.Errorf("write %s frame: %w", f.frameType(), fromTransport(err))
	}
	return nil
}

// coded is a local reason to end a session that the peer is told about
// with an Error frame of the given code.
type coded struct {
	code Code
	err  error
}

func (c *coded) Error() string { return c.err.Error() }
func (c *coded) Unwrap() error { return c.err }

// withCode marks err to be sent to the peer as an Error frame with code.
func withCode(code Code, err error) error { return &coded{code: code, err: err} }

// tellPeer is the Error frame to send for err, or nil when the peer need not
// be told (it caused the end itself, or the connection is gone).
func tellPeer(err error) *Error {
	var c *coded
	if !errors.As(err, &c) {
		return nil
	}
	return errorFor(c.code, c.err)
}

// hangUp ends conn. With a final frame (the peer's Error or the seller's
// Close) it writes the frame, finishes the stream and waits up to closeGrace
// for the peer to close first, so the frame is not lost; then it closes the
// connection with code.
func hangUp(conn *quic.Conn, ctl *control, final frame, code Code, msg string) {
	if final != nil && ctl != nil {
		if err := ctl.write(final); err == nil {
			_ = ctl.stream.Close()
			t := time.NewTimer(closeGrace)
			select {
			case <-conn.Context().Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = conn.CloseWithError(quic.ApplicationErrorCode(code), truncate(msg))
}
