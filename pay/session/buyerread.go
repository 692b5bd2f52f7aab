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
		p.res <- voucherResult{err: fmt.Errorf("voucher seq %d: %w", p.seq, b.endErr())}
	}
	close(b.statements)
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
			if err := b.answer(f.Seq, true, voucherResult{ack: f}); err != nil {
				return err
			}
		case *Error:
			if f.Code != CodeVoucherRejected {
				return fmt.Errorf("seller ended the session: %w", f)
			}
			if err := b.answer(0, false, voucherResult{err: f}); err != nil {
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

// answer hands the seller's answer to the oldest pending voucher.
func (b *BuyerSession) answer(seq uint64, isAck bool, r voucherResult) error {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return withCode(CodeProtocol, errors.New("voucher answer without a pending voucher"))
	}
	p := b.pending[0]
	b.pending = b.pending[1:]
	b.mu.Unlock()
	if isAck && p.seq != seq {
		p.res <- voucherResult{err: fmt.Errorf("seller acknowledged voucher seq %d, want %d", seq, p.seq)}
		return withCode(CodeProtocol, fmt.Errorf("voucher ack for seq %d, want %d", seq, p.seq))
	}
	p.res <- r
	return nil
}
