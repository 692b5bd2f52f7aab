package vicc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Control messages from vpcd: one-byte payloads.
const (
	ctrlOff   = 0x00
	ctrlOn    = 0x01
	ctrlReset = 0x02
	ctrlATR   = 0x04
)

// ErrRemoved is returned by Serve when the card removed itself
// (Faults.RemoveAfter).
var ErrRemoved = errors.New("vicc: card removed")

// Dial connects to vpcd at addr (e.g. 127.0.0.1:35963), retrying every
// retry until ctx ends, since vpcd only listens once pcscd has loaded it.
func Dial(ctx context.Context, addr string, retry time.Duration) (net.Conn, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dial vpcd %s: %w (last error: %w)", addr, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Serve answers vpcd's messages on conn with card until ctx ends, the card
// removes itself (ErrRemoved) or the connection fails. Each message is a
// 2-byte big-endian length and a payload; one-byte payloads are control
// messages (power off, power on, reset, send ATR), anything else an APDU.
// Serve closes conn.
func Serve(ctx context.Context, conn net.Conn, card *Card) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return serveErr(ctx, err)
		}
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return serveErr(ctx, err)
		}
		var rsp []byte
		if len(msg) == 1 {
			switch msg[0] {
			case ctrlOff, ctrlOn, ctrlReset:
				card.Reset()
				continue
			case ctrlATR:
				rsp = card.ATR()
			default:
				continue
			}
		} else {
			rsp = card.Process(msg)
			if card.Removed() {
				return ErrRemoved
			}
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(rsp)))
		if _, err := conn.Write(append(out, rsp...)); err != nil {
			return serveErr(ctx, err)
		}
	}
}

// serveErr reports ctx's error when the connection closed because ctx ended.
func serveErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("vicc: %w", err)
}
