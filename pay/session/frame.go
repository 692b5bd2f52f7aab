package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/x402/x402/internal/wire"
)

// MaxFrameSize bounds a control frame's length (its type byte and payload).
const MaxFrameSize = 16 << 10

// frameType is the first byte of a frame.
type frameType uint8

// The frame types of protocol version 1. The cooperative close frames came
// later within version 1: a seller that predates them rejects the request as
// an unknown frame type, and a seller never sends them unasked.
const (
	typeHello      frameType = 1 // buyer -> seller, first frame
	typeWelcome    frameType = 2 // seller -> buyer, answers Hello
	typeError      frameType = 3 // either way
	typeStatement  frameType = 4 // seller -> buyer
	typeVoucher    frameType = 5 // buyer -> seller
	typeVoucherAck frameType = 6 // seller -> buyer
	typeClose      frameType = 7 // buyer -> seller, and the seller's answer

	typeCoopCloseRequest frameType = 8 // buyer -> seller
	typeCoopCloseConsent frameType = 9 // seller -> buyer, answers a coop close request
)

// String names the frame type.
func (t frameType) String() string {
	switch t {
	case typeHello:
		return "hello"
	case typeWelcome:
		return "welcome"
	case typeError:
		return "error"
	case typeStatement:
		return "statement"
	case typeVoucher:
		return "voucher"
	case typeVoucherAck:
		return "voucher ack"
	case typeClose:
		return "close"
	case typeCoopCloseRequest:
		return "coop close request"
	case typeCoopCloseConsent:
		return "coop close consent"
	default:
		return fmt.Sprintf("type %d", uint8(t))
	}
}

// frame is one control-stream message: u32 length, u8 type, payload.
type frame interface {
	frameType() frameType
	encode(w *wire.Writer)
}

// encodeFrame returns f with its length and type prefix.
func encodeFrame(f frame) ([]byte, error) {
	w := wire.NewWriter(128)
	w.U32(0).U8(uint8(f.frameType()))
	f.encode(w)
	b := w.Bytes()
	n := len(b) - 4
	if n > MaxFrameSize {
		return nil, fmt.Errorf("encode %s frame of %d bytes: %w", f.frameType(), n, ErrFrameTooLarge)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// readFrame reads and decodes one frame. Errors of the underlying stream
// are returned as they are; a frame that does not decode is ErrMalformed.
func readFrame(r io.Reader) (frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > MaxFrameSize {
		return nil, fmt.Errorf("%w: %w (%d > %d bytes)", ErrMalformed, ErrFrameTooLarge, n, MaxFrameSize)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %d-byte frame: %w", n, err)
	}
	return parseFrame(body)
}

// decodeFrame decodes exactly one frame from b.
func decodeFrame(b []byte) (frame, error) {
	r := bytes.NewReader(b)
	f, err := readFrame(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated frame", ErrMalformed)
		}
		return nil, err
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the frame", ErrMalformed, r.Len())
	}
	return f, nil
}

// parseFrame decodes a frame body: its type byte and payload.
func parseFrame(body []byte) (frame, error) {
	t := frameType(body[0])
	r := wire.NewReader(body[1:])
	var f frame
	switch t {
	case typeHello:
		f = decodeHello(r)
	case typeWelcome:
		f = decodeWelcome(r)
	case typeError:
		f = decodeError(r)
	case typeStatement:
		f = decodeStatement(r)
	case typeVoucher:
		f = decodeVoucherFrame(r)
	case typeVoucherAck:
		f = decodeVoucherAck(r)
	case typeClose:
		f = closeFrame{}
	case typeCoopCloseRequest:
		f = decodeCoopCloseRequest(r)
	case typeCoopCloseConsent:
		f = decodeCoopCloseConsent(r)
	default:
		return nil, fmt.Errorf("%w: unknown frame type %d", ErrMalformed, uint8(t))
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %s frame: %w", ErrMalformed, t, err)
	}
	return f, nil
}
