package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/internal/quicnet"
	"github.com/x402/x402/pay"
)

// SellerHandler is the seller application behind a Server: it admits
// buyers, judges and persists vouchers, and learns of ticks. Its methods are
// called from the sessions' goroutines, concurrently across channels.
type SellerHandler interface {
	// Open admits buyer (proven by its certificate) to channel ch and
	// returns the welcome; an error is sent to the buyer (an *Error keeps
	// its code, any other error is CodeRejected).
	Open(ctx context.Context, buyer pay.Account, ch pay.ChannelID) (Welcome, error)
	// Voucher is called with every voucher the buyer sends, after the
	// session has checked its channel and the buyer's signature; the
	// handler judges its amount and persists it. A returned error is sent
	// to the buyer as an Error frame with CodeVoucherRejected and the
	// session goes on, unless it is an *Error with a code other than
	// CodeNone, CodeVoucherRejected or CodeCoopRefused, which ends the
	// session with that code; nil acknowledges the voucher with accepted,
	// the amount the seller now holds.
	Voucher(ctx context.Context, ch pay.ChannelID, v pay.SignedVoucher) (accepted pay.Amount, err error)
	// Tick is called for every tick datagram that verifies against the
	// hash chain of the newest accepted voucher voucherSeq, with the ticks
	// proven so far on that chain and the newest preimage. It runs on the
	// datagram path and must not block.
	Tick(ch pay.ChannelID, voucherSeq uint64, ticks uint32, preimage [32]byte)
	// Closed is called once when a session that Open admitted ends: err is
	// nil after the buyer's orderly Close.
	Closed(ch pay.ChannelID, err error)
}

// FinalStatementer may be implemented by a SellerHandler: on the buyer's
// orderly Close the session sends the statement it returns (if ok) before
// confirming the close.
type FinalStatementer interface {
	FinalStatement(ch pay.ChannelID) (st Statement, ok bool)
}

// CoopCloser may be implemented by a SellerHandler to agree to cooperative
// closes. CoopClose is called when the buyer asks the seller to co-sign an
// immediate close of channel ch on the ledger, after the session has checked
// the final voucher's channel and the buyer's signature (as for Voucher);
// the handler judges the voucher (typically against what it holds) and
// returns the seller's signature on the close, which the session sends to
// the buyer as is. A returned error is sent to the buyer as an Error frame
// with CodeCoopRefused and the session goes on, unless it is an *Error with
// a code other than CodeNone, CodeVoucherRejected or CodeCoopRefused, which
// ends the session with that code. A handler that does not implement
// CoopCloser refuses every cooperative close.
type CoopCloser interface {
	CoopClose(ctx context.Context, ch pay.ChannelID, final pay.SignedVoucher) (sellerSig [64]byte, err error)
}

// Server is the seller's end: it accepts buyers' sessions on one UDP
// address. One live session per channel; a newer one supersedes the older.
type Server struct {
	ln     *quic.Listener
	ep     *quicnet.Endpoint
	key    ed25519.PrivateKey
	domain pay.Domain
	h      SellerHandler
	log    *slog.Logger
	nextID atomic.Uint32

	mu     sync.Mutex
	closed bool
	conns  map[*sellerSession]struct{}
	live   map[pay.ChannelID]*sellerSession
	wg     sync.WaitGroup
}

// Listen opens a session server on addr (host:port, UDP) with the seller's
// account key; d is the domain statements are signed in. A nil log discards.
func Listen(addr string, key ed25519.PrivateKey, d pay.Domain, h SellerHandler, log *slog.Logger) (*Server, error) {
	if h == nil {
		return nil, errors.New("session listen: nil handler")
	}
	tlsConf, err := serverTLS(key)
	if err != nil {
		return nil, fmt.Errorf("session listen: %w", err)
	}
	ln, ep, err := quicnet.Listen(addr, tlsConf, quicConfig(true))
	if err != nil {
		return nil, fmt.Errorf("session listen on %s: %w", addr, err)
	}
	log = orDiscard(log)
	return &Server{
		ln: ln, ep: ep, key: key, domain: d, h: h,
		log:   log.With("component", "pay/session", "seller", pay.AccountOf(key.Public().(ed25519.PublicKey)).String()),
		conns: map[*sellerSession]struct{}{},
		live:  map[pay.ChannelID]*sellerSession{},
	}, nil
}

// Addr is the UDP address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts sessions until ctx ends or Close is called, then closes the
// server and returns once every session has ended; that is a nil error.
func (s *Server) Serve(ctx context.Context) error {
	for {
		conn, err := s.ln.Accept(ctx)
		if err != nil {
			wasClosed := s.isClosed()
			closeErr := s.Close()
			if wasClosed || ctx.Err() != nil {
				return closeErr
			}
			return fmt.Errorf("session server: accept: %w", err)
		}
		s.start(ctx, conn)
	}
}

// start runs a session for conn unless the server is closed.
func (s *Server) start(ctx context.Context, conn *quic.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "seller shutting down")
		return
	}
	ss := newSellerSession(ctx, s, conn, s.nextID.Add(1))
	s.conns[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ss.run()
	}()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// register makes ss the live session of its channel, superseding another.
func (s *Server) register(ss *sellerSession) {
	s.mu.Lock()
	old := s.live[ss.ch]
	s.live[ss.ch] = ss
	s.mu.Unlock()
	if old != nil && old != ss {
		old.abort(CodeSuperseded, fmt.Errorf("channel %s: a newer session took over", ss.ch))
	}
}

// unlive removes ss as its channel's live session.
func (s *Server) unlive(ss *sellerSession) {
	s.mu.Lock()
	if s.live[ss.ch] == ss {
		delete(s.live, ss.ch)
	}
	s.mu.Unlock()
}

// forget drops an ended session.
func (s *Server) forget(ss *sellerSession) {
	s.unlive(ss)
	s.mu.Lock()
	delete(s.conns, ss)
	s.mu.Unlock()
}

// SendStatement signs st and sends it on channel ch's live session (an error
// if there is none). A zero st.Channel means ch; a zero st.Seq is numbered
// after the session's previous statement; Seq must increase.
func (s *Server) SendStatement(ch pay.ChannelID, st Statement) error {
	s.mu.Lock()
	ss := s.live[ch]
	s.mu.Unlock()
	if ss == nil {
		return fmt.Errorf("send statement: channel %s: %w", ch, ErrNoSession)
	}
	return ss.sendStatement(st)
}

// TickStats returns the tick counters of channel ch's live session.
func (s *Server) TickStats(ch pay.ChannelID) (TickStats, bool) {
	s.mu.Lock()
	ss := s.live[ch]
	s.mu.Unlock()
	if ss == nil {
		return TickStats{}, false
	}
	return ss.ticks.Stats(), true
}

// Close stops accepting, ends every session (CodeShutdown) and waits for
// them; it may be called more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	var sessions []*sellerSession
	for ss := range s.conns {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	var err error
	if first {
		if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("session server close: %w", cerr)
		}
		for _, ss := range sessions {
			ss.abort(CodeShutdown, errors.New("seller shutting down"))
		}
	}
	s.wg.Wait()
	if first {
		s.ep.Close()
	}
	return err
}
