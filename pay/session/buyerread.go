package session

import (
	"errors"
	"fmt"
	"io"

	"github.com/quic-go/quic-go"
)

// readLoop handles the seller's frames until the session ends, then ends it.
func (b *BuyerSession) readLoop() {
	err := b.serveFrames()
	b.mu.Lock()
	closing := b.closing
	b.mu.Unlock()
	if closing && (closedLocally(err) || errors.Is(err, ErrClosed)) {
		err = nil // the buyer's own Close
	}
	if tell := tellPeer(err); tell != nil {
		hangUp(b.conn, b.ctl, tell, tell.Code, tell.Message)
	} else {
		_ = b.conn.CloseWithError(quic.ApplicationErrorCode(CodeNone), "closed")
	}
	if err != nil {
		b.log.Info("session ended", "err", err)
	} else {
		b.log.Info("session closed")
	}

	b.mu.Lock()
	b.err = err
	b.finished = true
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, p := range pending {
		p.res <- requestResult{err: fmt.Errorf("%s: %w", p, b.endErr())}
	}
	close(b.statements)
	b.closeTransport()
	close(b.done)
}

// serveFrames reads the seller's frames until an error or the end.
func (b *BuyerSession) serveFrames() error {
	var lastSeq uint64
	acked := false
	for {
		f, err := readFrame(b.ctl.stream)
		if acked && errors.Is(err, io.EOF) {
			return nil // the seller finished the stream after confirming Close
		}
		if err != nil {
			return readErr("frame", err)
		}
		switch f := f.(type) {
		case SignedStatement:
			if err := b.onStatement(f, &lastSeq); err != nil {
				return err
			}
		case VoucherAck:
			if err := b.answer(typeVoucher, "voucher ack", requestResult{ack: f}); err != nil {
				return err
			}
		case coopCloseConsent:
			if err := b.answer(typeCoopCloseRequest, "coop close consent", requestResult{sig: f.SellerSig}); err != nil {
				return err
			}
		case *Error:
			var err error
			switch f.Code {
			case CodeVoucherRejected:
				err = b.answer(typeVoucher, "voucher rejection", requestResult{err: f})
			case CodeCoopRefused:
				err = b.answer(typeCoopCloseRequest, "coop close refusal", requestResult{err: f})
			default:
				return fmt.Errorf("seller ended the session: %w", f)
			}
			if err != nil {
				return err
			}
		case closeFrame:
			b.mu.Lock()
			closing := b.closing
			b.mu.Unlock()
			if !closing {
				return errSellerClosed
			}
			if !acked {
				acked = true
				close(b.closeAck)
			}
		default:
			return withCode(CodeProtocol, fmt.Errorf("unexpected %s frame from the seller", f.frameType()))
		}
	}
}

// onStatement verifies a statement and delivers it, dropping the oldest
// undelivered one if the buyer falls behind.
func (b *BuyerSession) onStatement(st SignedStatement, lastSeq *uint64) error {
	if st.Channel != b.ch {
		return withCode(CodeBadStatement, fmt.Errorf("statement for channel %s on the session of channel %s", st.Channel, b.ch))
	}
	if err := st.Verify(b.domain, b.seller); err != nil {
		return withCode(CodeBadStatement, err)
	}
	if st.Seq <= *lastSeq {
		return withCode(CodeBadStatement, fmt.Errorf("statement seq %d not after %d", st.Seq, *lastSeq))
	}
	*lastSeq = st.Seq
	for {
		select {
		case b.statements <- st:
			return nil
		default:
		}
		select {
		case old := <-b.statements:
			b.log.Debug("statement superseded before it was read", "seq", old.Seq)
		default:
		}
	}
}

// answer hands the seller's answer r (named what) to the oldest pending
// request, which must be of kind: the seller answers requests in order.
func (b *BuyerSession) answer(kind frameType, what string, r requestResult) error {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return withCode(CodeProtocol, fmt.Errorf("%s without a pending request", what))
	}
	p := b.pending[0]
	b.pending = b.pending[1:]
	b.mu.Unlock()
	var wrong error
	switch {
	case p.kind != kind:
		wrong = fmt.Errorf("%s answers the pending %s", what, p)
	case kind == typeVoucher && r.err == nil && r.ack.Seq != p.seq:
		wrong = fmt.Errorf("voucher ack for seq %d, want %d", r.ack.Seq, p.seq)
	}
	if wrong != nil {
		p.res <- requestResult{err: fmt.Errorf("%s: seller answered out of order: %w", p, wrong)}
		return withCode(CodeProtocol, wrong)
	}
	if p.kind == typeCoopCloseRequest && r.err != nil {
		r.err = fmt.Errorf("%s: %w", p, r.err)
	}
	p.res <- r
	return nil
}
