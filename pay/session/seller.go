package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/pay"
)

// maxInvalidTicks ends a session whose buyer keeps sending ticks that do
// not verify: each may cost up to a chain's length of hashing.
const maxInvalidTicks = 64

// errOrderly ends a session on the buyer's Close.
var errOrderly = errors.New("buyer closed the session")

// sellerSession is one buyer's connection to the Server.
type sellerSession struct {
	srv    *Server
	conn   *quic.Conn
	id     uint32
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	// Set by the handshake, before the session is live.
	ctl    *control
	buyer  pay.Account
	ch     pay.ChannelID
	opened bool // Open admitted the buyer, so Closed is due

	stmtMu  sync.Mutex
	stmtSeq uint64

	ticks tickVerifier

	abortMu sync.Mutex
	reason  error // set by abort
}

func newSellerSession(ctx context.Context, srv *Server, conn *quic.Conn, id uint32) *sellerSession {
	ctx, cancel := context.WithCancel(ctx)
	ss := &sellerSession{
		srv: srv, conn: conn, id: id, ctx: ctx, cancel: cancel,
		log: srv.log.With("session", id, "remote", conn.RemoteAddr().String()),
	}
	ss.ticks.session = id
	return ss
}

// run drives the session to its end.
func (ss *sellerSession) run() {
	defer ss.srv.forget(ss)
	defer ss.cancel()
	stop := context.AfterFunc(ss.ctx, func() {
		ss.abort(CodeShutdown, errors.New("seller shutting down"))
	})
	defer stop()

	if err := ss.handshake(); err != nil {
		err = ss.end(err)
		ss.log.Info("session refused", "err", err)
		if ss.opened {
			ss.srv.h.Closed(ss.ch, err)
		}
		return
	}
	ss.log.Info("session open", "buyer", ss.buyer.String(), "channel", ss.ch.String())

	var wg sync.WaitGroup
	wg.Go(ss.readDatagrams)
	err := ss.end(ss.serveFrames())
	stop()
	ss.cancel()
	wg.Wait()
	if err != nil {
		ss.log.Info("session ended", "channel", ss.ch.String(), "err", err)
	} else {
		ss.log.Info("session closed", "channel", ss.ch.String())
	}
	ss.srv.h.Closed(ss.ch, err)
}

// handshake accepts the control stream, reads the Hello, asks the handler
// to admit the buyer and answers with the Welcome.
func (ss *sellerSession) handshake() error {
	buyer, err := AccountFromConn(ss.conn)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ss.ctx, HelloTimeout)
	stream, err := ss.conn.AcceptStream(actx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		return withCode(CodeProtocol, fmt.Errorf("no control stream within %v", HelloTimeout))
	}
	if err != nil {
		return fmt.Errorf("accept control stream: %w", fromTransport(err))
	}
	ss.ctl = &control{stream: stream}
	if err := stream.SetReadDeadline(time.Now().Add(HelloTimeout)); err != nil {
		return fmt.Errorf("hello deadline: %w", err)
	}
	f, err := readFrame(stream)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return withCode(CodeProtocol, fmt.Errorf("no hello within %v", HelloTimeout))
	}
	if err != nil {
		return readErr("hello", err)
	}
	if err := stream.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("hello deadline: %w", err)
	}
	h, ok := f.(hello)
	if !ok {
		return withCode(CodeProtocol, fmt.Errorf("first frame is %s, want hello", f.frameType()))
	}
	if h.Version != Version {
		return withCode(CodeVersion, fmt.Errorf("unsupported protocol version %d (this seller speaks %d)", h.Version, Version))
	}
	ss.buyer, ss.ch = buyer, h.Channel
	w, err := ss.srv.h.Open(ss.ctx, buyer, h.Channel)
	if err != nil {
		return withCode(CodeRejected, fmt.Errorf("channel %s refused for %s: %w", h.Channel, buyer, err))
	}
	ss.opened = true
	if err := w.validate(); err != nil {
		return withCode(CodeInternal, err)
	}
	// Live before the Welcome is on its way, so a statement sent as soon as
	// the buyer is welcomed finds the session; stmtMu keeps it after the Welcome.
	ss.stmtMu.Lock()
	defer ss.stmtMu.Unlock()
	ss.srv.register(ss)
	return ss.ctl.write(welcomeFrame{Version: Version, Session: ss.id, Welcome: w})
}

// readErr classifies a failed frame read: a malformed frame is the peer's
// protocol error; anything else is the transport's.
func readErr(what string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return withCode(CodeProtocol, fmt.Errorf("read %s: %w", what, err))
	}
	if errors.Is(err, io.EOF) {
		return withCode(CodeProtocol, fmt.Errorf("read %s: control stream ended without close", what))
	}
	return fmt.Errorf("read %s: %w", what, fromTransport(err))
}

// serveFrames handles the buyer's frames until the session ends.
func (ss *sellerSession) serveFrames() error {
	for {
		f, err := readFrame(ss.ctl.stream)
		if err != nil {
			return readErr("frame", err)
		}
		switch f := f.(type) {
		case voucherFrame:
			if err := ss.onVoucher(f.SignedVoucher); err != nil {
				return err
			}
		case coopCloseRequest:
			if err := ss.onCoopClose(f.Final); err != nil {
				return err
			}
		case closeFrame:
			return errOrderly
		case *Error:
			return fmt.Errorf("buyer ended the session: %w", f)
		default:
			return withCode(CodeProtocol, fmt.Errorf("unexpected %s frame from the buyer", f.frameType()))
		}
	}
}

// onVoucher checks a voucher's channel and signature, hands it to the
// handler and answers with an ack or a (non-fatal) rejection.
func (ss *sellerSession) onVoucher(v pay.SignedVoucher) error {
	reject := func(err error) error {
		ss.log.Info("voucher rejected", "channel", ss.ch.String(), "seq", v.Seq, "err", err)
		return ss.ctl.write(refusal(CodeVoucherRejected, err))
	}
	if v.Channel != ss.ch {
		return reject(fmt.Errorf("voucher for channel %s on the session of channel %s", v.Channel, ss.ch))
	}
	if err := v.Verify(ss.srv.domain, ss.buyer); err != nil {
		return reject(err)
	}
	accepted, err := ss.srv.h.Voucher(ss.ctx, ss.ch, v)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && !refusalCode(pe.Code) {
			return withCode(pe.Code, err)
		}
		return reject(err)
	}
	ss.ticks.accept(v.Voucher)
	return ss.ctl.write(VoucherAck{Seq: v.Seq, Accepted: accepted})
}

// errNoCoopClose refuses a cooperative close when the handler is no CoopCloser.
var errNoCoopClose = errors.New("seller does not support cooperative close")

// onCoopClose checks the final voucher's channel and signature as onVoucher
// does, asks the handler to co-sign the close and answers with its consent
// or a (non-fatal) refusal.
func (ss *sellerSession) onCoopClose(final pay.SignedVoucher) error {
	refuse := func(err error) error {
		ss.log.Info("coop close refused", "channel", ss.ch.String(), "seq", final.Seq, "err", err)
		return ss.ctl.write(refusal(CodeCoopRefused, err))
	}
	cc, ok := ss.srv.h.(CoopCloser)
	if !ok {
		return refuse(errNoCoopClose)
	}
	if final.Channel != ss.ch {
		return refuse(fmt.Errorf("final voucher for channel %s on the session of channel %s", final.Channel, ss.ch))
	}
	if err := final.Verify(ss.srv.domain, ss.buyer); err != nil {
		return refuse(err)
	}
	sig, err := cc.CoopClose(ss.ctx, ss.ch, final)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && !refusalCode(pe.Code) {
			return withCode(pe.Code, err)
		}
		return refuse(err)
	}
	ss.log.Info("coop close consented", "channel", ss.ch.String(), "seq", final.Seq, "cumulative", final.Cumulative)
	return ss.ctl.write(coopCloseConsent{SellerSig: sig})
}

// refusalCode reports whether a handler's *Error with code refuses one
// request rather than ending the session.
func refusalCode(c Code) bool {
	return c == CodeNone || c == CodeVoucherRejected || c == CodeCoopRefused
}

// readDatagrams verifies tick datagrams until the session ends.
func (ss *sellerSession) readDatagrams() {
	for {
		b, err := ss.conn.ReceiveDatagram(ss.ctx)
		if err != nil {
			return
		}
		res := tickInvalid
		t, err := decodeTick(b)
		if err != nil {
			ss.ticks.invalid()
		} else {
			res = ss.ticks.check(t)
		}
		switch res {
		case tickValid:
			ss.srv.h.Tick(ss.ch, t.VoucherSeq, t.Index, t.Preimage)
		case tickInvalid:
			if st := ss.ticks.Stats(); st.Invalid > maxInvalidTicks {
				ss.abort(CodeProtocol, fmt.Errorf("%d invalid tick datagrams", st.Invalid))
				return
			}
		}
	}
}

// sendStatement signs and sends a statement on this session.
func (ss *sellerSession) sendStatement(st Statement) error {
	if st.Channel == (pay.ChannelID{}) {
		st.Channel = ss.ch
	}
	if st.Channel != ss.ch {
		return fmt.Errorf("send statement: channel %s on the session of channel %s", st.Channel, ss.ch)
	}
	ss.stmtMu.Lock()
	defer ss.stmtMu.Unlock()
	if st.Seq == 0 {
		st.Seq = ss.stmtSeq + 1
	}
	if st.Seq <= ss.stmtSeq {
		return fmt.Errorf("send statement: seq %d not after %d", st.Seq, ss.stmtSeq)
	}
	if err := ss.ctl.write(st.Sign(ss.srv.domain, ss.srv.key)); err != nil {
		return fmt.Errorf("send statement to channel %s: %w", ss.ch, err)
	}
	ss.stmtSeq = st.Seq
	return nil
}

// abort ends the session from outside its frame loop by closing the
// connection with code; the first reason is what Closed reports.
func (ss *sellerSession) abort(code Code, reason error) {
	ss.abortMu.Lock()
	if ss.reason == nil {
		ss.reason = &Error{Code: code, Message: reason.Error()}
	}
	ss.abortMu.Unlock()
	_ = ss.conn.CloseWithError(quic.ApplicationErrorCode(code), truncate(reason.Error()))
}

// aborted returns the reason abort recorded, if any.
func (ss *sellerSession) aborted() error {
	ss.abortMu.Lock()
	defer ss.abortMu.Unlock()
	return ss.reason
}

// end closes the connection after err ended the session and returns what
// Closed reports: nil for an orderly close.
func (ss *sellerSession) end(err error) error {
	if reason := ss.aborted(); reason != nil {
		return fmt.Errorf("session aborted: %w", reason)
	}
	if errors.Is(err, errOrderly) {
		ss.srv.unlive(ss)
		if fs, ok := ss.srv.h.(FinalStatementer); ok {
			if st, ok := fs.FinalStatement(ss.ch); ok {
				if serr := ss.sendStatement(st); serr != nil {
					ss.log.Warn("final statement", "channel", ss.ch.String(), "err", serr)
				}
			}
		}
		hangUp(ss.conn, ss.ctl, closeFrame{}, CodeNone, "closed")
		return nil
	}
	if tell := tellPeer(err); tell != nil {
		hangUp(ss.conn, ss.ctl, tell, tell.Code, tell.Message)
		return err
	}
	_ = ss.conn.CloseWithError(quic.ApplicationErrorCode(CodeNone), "")
	return err
}
