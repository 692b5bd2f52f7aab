package session

import (
	"errors"
	"fmt"
	"strings"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/internal/quicnet"
)

// Code classifies an Error sent to the peer on the control stream; the same
// value closes the QUIC connection as its application error code.
type Code uint32

// The error codes of protocol version 1.
const (
	CodeNone            Code = 0 // orderly close
	CodeProtocol        Code = 1 // malformed or unexpected frame or datagram
	CodeVersion         Code = 2 // unsupported protocol version
	CodeRejected        Code = 3 // the seller does not admit the buyer to the channel
	CodeVoucherRejected Code = 4 // the seller refused one voucher; the session goes on
	CodeInternal        Code = 5 // a local failure unrelated to the peer
	CodeShutdown        Code = 6 // the seller is shutting down
	CodeSuperseded      Code = 7 // a newer session took over the channel
	CodeBadStatement    Code = 8 // the buyer refused a statement (bad signature or order)
	CodeCoopRefused     Code = 9 // the seller refused a cooperative close; the session goes on
)

// String names the code.
func (c Code) String() string {
	switch c {
	case CodeNone:
		return "none"
	case CodeProtocol:
		return "protocol"
	case CodeVersion:
		return "version"
	case CodeRejected:
		return "rejected"
	case CodeVoucherRejected:
		return "voucher rejected"
	case CodeInternal:
		return "internal"
	case CodeShutdown:
		return "shutdown"
	case CodeSuperseded:
		return "superseded"
	case CodeBadStatement:
		return "bad statement"
	case CodeCoopRefused:
		return "coop close refused"
	default:
		return fmt.Sprintf("code %d", uint32(c))
	}
}

// Error is the Error frame: the peer's reason for refusing a request or
// ending the session. Only CodeVoucherRejected and CodeCoopRefused, the
// answers to one request, leave the session open.
// A SellerHandler may return an *Error to choose the code the buyer sees.
type Error struct {
	Code    Code
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("peer error (%s): %s", e.Code, e.Message)
}

// Errors reported locally.
var (
	// ErrMalformed marks a frame or datagram that does not decode.
	ErrMalformed = errors.New("malformed frame")
	// ErrFrameTooLarge marks a frame longer than MaxFrameSize.
	ErrFrameTooLarge = errors.New("frame exceeds the maximum frame size")
	// ErrPeerMismatch marks a peer certificate that is not the expected account.
	ErrPeerMismatch = quicnet.ErrPeerMismatch
	// ErrNoSession is returned by Server.SendStatement for a channel without a live session.
	ErrNoSession = errors.New("no live session for channel")
	// ErrClosed is returned for operations on a session that has ended.
	ErrClosed = errors.New("session closed")
)

// maxErrorMessage bounds an Error frame's message.
const maxErrorMessage = 1024

// errorFor turns a local error into the Error frame sent to the peer.
func errorFor(code Code, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return &Error{Code: pe.Code, Message: truncate(pe.Message)}
	}
	return &Error{Code: code, Message: truncate(err.Error())}
}

// refusal is the non-fatal Error frame answering one request: err's message
// (an *Error's own message) with code, whatever code an *Error in err has.
func refusal(code Code, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return &Error{Code: code, Message: truncate(pe.Message)}
	}
	return &Error{Code: code, Message: truncate(err.Error())}
}

// truncate cuts s to maxErrorMessage bytes of valid UTF-8.
func truncate(s string) string {
	if len(s) > maxErrorMessage {
		s = s[:maxErrorMessage]
	}
	return strings.ToValidUTF8(s, "")
}

// fromTransport maps the QUIC error that ended a stream read to the peer's
// *Error when the peer closed the connection with an application code.
func fromTransport(err error) error {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		if ae.ErrorCode == quic.ApplicationErrorCode(CodeNone) {
			return fmt.Errorf("peer closed the connection: %w", ErrClosed)
		}
		return &Error{Code: Code(ae.ErrorCode), Message: ae.ErrorMessage}
	}
	return err
}

// closedLocally reports whether err comes from this side closing the connection.
func closedLocally(err error) bool {
	var ae *quic.ApplicationError
	return errors.As(err, &ae) && !ae.Remote
}
