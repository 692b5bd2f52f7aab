package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/internal/quicnet"
	"github.com/x402/x402/pay"
)

// statementBuffer is how many verified statements wait for the buyer; when
// it is full the oldest is dropped, since a newer statement supersedes it.
const statementBuffer = 16

// BuyerSession is the buyer's end of a payment session.
type BuyerSession struct {
	ep      *quicnet.Endpoint // the session's own socket and transport
	conn    *quic.Conn
	ctl     *control
	domain  pay.Domain
	seller  pay.Account
	ch      pay.ChannelID
	session uint32
	welcome Welcome
	log     *slog.Logger

	statements chan SignedStatement // sent to and closed by the reader only
	closeAck   chan struct{}        // closed by the reader on the seller's Close
	done       chan struct{}        // closed by the reader when the session ends

	sendMu sync.Mutex // orders requests with their pending entries

	mu       sync.Mutex
	pending  []pendingRequest
	closing  bool
	finished bool
	err      error

	closeOnce sync.Once
	closeErr  error
}

// pendingRequest awaits the seller's answer to a request: a voucher or a
// cooperative close request. The seller answers requests in order.
type pendingRequest struct {
	kind frameType // typeVoucher or typeCoopCloseRequest
	seq  uint64    // the voucher's seq
	res  chan requestResult
}

// String names the request.
func (p pendingRequest) String() string {
	if p.kind == typeCoopCloseRequest {
		return fmt.Sprintf("coop close at voucher seq %d", p.seq)
	}
	return fmt.Sprintf("voucher seq %d", p.seq)
}

// requestResult is the seller's answer to a request.
type requestResult struct {
	ack VoucherAck                  // a voucher's acknowledgement
	sig [ed25519.SignatureSize]byte // the seller's consent to a coop close
	err error                       // the seller's refusal, or why no answer came
}

// Dial opens a payment session for channel ch with the seller at addr
// (host:port, UDP), which must present the account seller; key is the
// buyer's account key and d the domain statements are verified in. It
// returns once the seller has welcomed the buyer; a seller's refusal is an
// *Error in the chain. A nil log discards.
func Dial(ctx context.Context, addr string, seller pay.Account, key ed25519.PrivateKey, d pay.Domain, ch pay.ChannelID, log *slog.Logger) (*BuyerSession, error) {
	tlsConf, err := clientTLS(key, seller)
	if err != nil {
		return nil, fmt.Errorf("dial seller: %w", err)
	}
	conn, ep, err := quicnet.Dial(ctx, addr, tlsConf, quicConfig(false))
	if err != nil {
		return nil, fmt.Errorf("dial seller %s at %s: %w", seller, addr, err)
	}
	b := &BuyerSession{
		ep:   ep,
		conn: conn, domain: d, seller: seller, ch: ch,
		log:        orDiscard(log).With("component", "pay/session", "seller", seller.String(), "channel", ch.String()),
		statements: make(chan SignedStatement, statementBuffer),
		closeAck:   make(chan struct{}),
		done:       make(chan struct{}),
	}
	if err := b.handshake(ctx); err != nil {
		if tell := tellPeer(err); tell != nil {
			hangUp(conn, b.ctl, tell, tell.Code, tell.Message)
		} else {
			_ = conn.CloseWithError(quic.ApplicationErrorCode(CodeNone), "")
		}
		b.closeTransport()
		return nil, fmt.Errorf("session with %s for channel %s: %w", seller, ch, err)
	}
	b.log.Info("session open", "session", b.session)
	go b.readLoop()
	return b, nil
}

// handshake sends the Hello and waits for the Welcome or the seller's Error.
func (b *BuyerSession) handshake(ctx context.Context) error {
	stream, err := b.conn.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	b.ctl = &control{stream: stream}
	if err := b.ctl.write(hello{Version: Version, Channel: b.ch}); err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(HelloTimeout)
	}
	if err := stream.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("welcome deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = stream.SetReadDeadline(time.Now()) })
	f, err := readFrame(stream)
	if !stop() {
		return fmt.Errorf("await welcome: %w", ctx.Err())
	}
	if err != nil {
		return readErr("welcome", err)
	}
	if err := stream.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("welcome deadline: %w", err)
	}
	switch f := f.(type) {
	case welcomeFrame:
		if f.Version != Version {
			return withCode(CodeVersion, fmt.Errorf("seller speaks protocol version %d, want %d", f.Version, Version))
		}
		b.session, b.welcome = f.Session, f.Welcome
		return nil
	case *Error:
		return fmt.Errorf("seller refused: %w", f)
	default:
		return withCode(CodeProtocol, fmt.Errorf("seller answered hello with %s, want welcome", f.frameType()))
	}
}

// Welcome is the seller's welcome: proxy credentials and terms.
func (b *BuyerSession) Welcome() Welcome { return b.welcome }

// Channel is the session's channel.
func (b *BuyerSession) Channel() pay.ChannelID { return b.ch }

// Statements delivers the seller's statements, each verified (signature,
// channel, increasing Seq); it is closed when the session ends. A reader
// that falls behind loses older statements, never the newest.
func (b *BuyerSession) Statements() <-chan SignedStatement { return b.statements }

// SendVoucher sends a signed voucher for the session's channel and waits for
// the seller's answer: its VoucherAck, or its refusal as an *Error with
// CodeVoucherRejected (the session goes on).
func (b *BuyerSession) SendVoucher(ctx context.Context, v pay.SignedVoucher) (VoucherAck, error) {
	if v.Channel != b.ch {
		return VoucherAck{}, fmt.Errorf("send voucher: channel %s on the session of channel %s", v.Channel, b.ch)
	}
	r, err := b.request(ctx, "send", pendingRequest{kind: typeVoucher, seq: v.Seq}, voucherFrame{v})
	if err != nil {
		return VoucherAck{}, err
	}
	return r.ack, r.err
}

// RequestCoopClose asks the seller to co-sign an immediate close of the
// session's channel on the ledger at final, the buyer's final voucher, and
// waits for the seller's answer: its signature on the close, or its refusal
// as an *Error with CodeCoopRefused in the chain (the session goes on). The
// session does not check the signature: the caller builds the close and
// verifies it. A seller that predates cooperative close ends the session
// with CodeProtocol (unknown frame type).
func (b *BuyerSession) RequestCoopClose(ctx context.Context, final pay.SignedVoucher) ([ed25519.SignatureSize]byte, error) {
	if final.Channel != b.ch {
		return [ed25519.SignatureSize]byte{}, fmt.Errorf("request coop close: final voucher for channel %s on the session of channel %s", final.Channel, b.ch)
	}
	return b.requestCoopClose(ctx, final)
}

// requestCoopClose is RequestCoopClose without the channel check.
func (b *BuyerSession) requestCoopClose(ctx context.Context, final pay.SignedVoucher) ([ed25519.SignatureSize]byte, error) {
	p := pendingRequest{kind: typeCoopCloseRequest, seq: final.Seq}
	r, err := b.request(ctx, "request", p, coopCloseRequest{Final: final})
	if err != nil {
		return [ed25519.SignatureSize]byte{}, err
	}
	return r.sig, r.err
}

// request sends f, the request p describes, and waits for the seller's
// answer; verb prefixes the errors of the request itself.
func (b *BuyerSession) request(ctx context.Context, verb string, p pendingRequest, f frame) (requestResult, error) {
	p.res = make(chan requestResult, 1)
	b.sendMu.Lock()
	b.mu.Lock()
	if b.finished {
		b.mu.Unlock()
		b.sendMu.Unlock()
		return requestResult{}, fmt.Errorf("%s %s: %w", verb, p, b.endErr())
	}
	b.pending = append(b.pending, p)
	b.mu.Unlock()
	err := b.ctl.write(f)
	b.sendMu.Unlock()
	if err != nil {
		return requestResult{}, fmt.Errorf("%s %s: %w", verb, p, err)
	}
	select {
	case r := <-p.res:
		return r, nil
	case <-ctx.Done():
		return requestResult{}, fmt.Errorf("%s %s: %w", verb, p, ctx.Err())
	case <-b.done:
		select {
		case r := <-p.res:
			return r, nil
		default:
			return requestResult{}, fmt.Errorf("%s %s: %w", verb, p, b.endErr())
		}
	}
}

// SendTick sends preimage index of the hash chain committed in voucher
// voucherSeq as a datagram: no answer, no retransmission; a lost tick is
// superseded by the next. It blocks only while the send queue is full.
func (b *BuyerSession) SendTick(voucherSeq uint64, index uint32, preimage [32]byte) error {
	select {
	case <-b.done:
		return fmt.Errorf("send tick %d: %w", index, b.endErr())
	default:
	}
	t := tick{Session: b.session, VoucherSeq: voucherSeq, Index: index, Preimage: preimage}
	if err := b.conn.SendDatagram(t.encode()); err != nil {
		return fmt.Errorf("send tick %d: %w", index, err)
	}
	return nil
}

// Close ends the session in order: it sends Close, waits briefly for the
// seller's final statement and confirmation, and closes the connection. It
// returns the session's error if it had already failed.
func (b *BuyerSession) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closing = true
		b.mu.Unlock()
		var err error
		if werr := b.ctl.write(closeFrame{}); werr == nil {
			t := time.NewTimer(closeWait)
			select {
			case <-b.closeAck:
			case <-b.done:
			case <-t.C:
				err = fmt.Errorf("close session: seller did not confirm within %v", closeWait)
			}
			t.Stop()
		}
		_ = b.conn.CloseWithError(quic.ApplicationErrorCode(CodeNone), "closed")
		<-b.done
		if serr := b.Err(); serr != nil {
			err = serr
		}
		b.closeErr = err
	})
	return b.closeErr
}

// Done is closed when the session has ended.
func (b *BuyerSession) Done() <-chan struct{} { return b.done }

// Err is why the session ended: nil while it runs and after an orderly
// Close; the seller's reasons are *Error values in the chain.
func (b *BuyerSession) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// endErr is the error for operations on an ended session.
func (b *BuyerSession) endErr() error {
	if err := b.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return ErrClosed
}

// errSellerClosed ends a session the seller closed without being asked.
var errSellerClosed = errors.New("seller closed the session")

// closeTransport stops the session's QUIC transport and closes its socket.
func (b *BuyerSession) closeTransport() { b.ep.Close() }
