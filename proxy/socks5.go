package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"time"

	socks5 "github.com/armon/go-socks5"

	"github.com/x402/x402/meter"
)

// noDeadline clears a deadline.
var noDeadline time.Time

// errHijacked ends go-socks5's handling of a connection whose tunnel this
// package ran itself.
var errHijacked = errors.New("socks5: connection taken over by the relay")

// discardLog silences go-socks5's own logger; sessions log through slog.
var discardLog = log.New(io.Discard, "", 0)

// ServeSOCKS5 accepts SOCKS5 clients on l until Shutdown. l must be a TCP
// listener: the relay needs *net.TCPConn on both sides to splice.
func (p *Proxy) ServeSOCKS5(l net.Listener) error {
	return p.acceptLoop(l, "socks5", p.serveSOCKS5Conn)
}

// acceptLoop accepts TCP connections, admits them and serves each in its
// own tracked goroutine.
func (p *Proxy) acceptLoop(l net.Listener, name string, serve func(*net.TCPConn)) error {
	if !p.tracker.addListener(l) {
		return ErrClosed
	}
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Error("accept failed", "listener", name, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		tc, ok := c.(*net.TCPConn)
		if !ok {
			c.Close()
			return fmt.Errorf("%s listener %s is not TCP", name, l.Addr())
		}
		if !p.admit(tc) {
			tc.Close()
			continue
		}
		if !p.tracker.add(tc) {
			p.slots.release()
			tc.Close()
			return nil
		}
		go func() {
			defer p.tracker.done(tc)
			defer p.slots.release()
			defer tc.Close()
			serve(tc)
		}()
	}
}

// socksSession is one client connection's state through go-socks5's
// callbacks. go-socks5 calls them in order on the connection's goroutine.
type socksSession struct {
	p        *Proxy
	conn     *net.TCPConn
	framer   socksFramer
	buyerID  string
	host     string       // the name the client asked for, if any
	buyer    *meter.Buyer // set once a connection slot is held
	hijacked bool
}

func (p *Proxy) serveSOCKS5Conn(c *net.TCPConn) {
	c.SetDeadline(time.Now().Add(p.lim.HandshakeTimeout))
	s := &socksSession{p: p, conn: c, framer: newSOCKSFramer()}
	srv, err := socks5.New(&socks5.Config{
		Credentials: s,
		Resolver:    s,
		Rules:       s,
		Dial:        s.dial,
		Logger:      discardLog,
	})
	if err != nil {
		p.log.Error("socks5 server setup failed", "err", err)
		return
	}
	err = srv.ServeConn(&socksHandshakeConn{TCPConn: c, s: s})
	if s.buyer != nil && !s.hijacked {
		s.buyer.Close()
	}
	if err != nil && !s.hijacked {
		p.log.Debug("socks5 request ended", "src", c.RemoteAddr().String(), "buyer", s.buyerID, "err", err)
	}
}

// Valid implements socks5.CredentialStore (RFC 1929).
func (s *socksSession) Valid(user, pass string) bool {
	buyer, ok := s.p.cfg.Auth.Authenticate(user, pass)
	if !ok {
		s.p.log.Warn("socks5 authentication failed", "src", s.conn.RemoteAddr().String(), "user", user)
		return false
	}
	s.buyerID = buyer
	s.p.authenticated(s.conn)
	return true
}

// Resolve implements socks5.NameResolver with the egress resolver.
func (s *socksSession) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	s.host = name
	if s.p.cfg.Upstream != nil {
		return ctx, net.IPv4zero, nil // the upstream resolves the name
	}
	rctx, cancel := context.WithTimeout(s.p.ctx, s.p.lim.HandshakeTimeout)
	defer cancel()
	addrs, err := s.p.cfg.Egress.Resolve(rctx, name)
	if err != nil {
		return ctx, nil, fmt.Errorf("resolve %q: %w", name, err)
	}
	if len(addrs) == 0 {
		return ctx, nil, fmt.Errorf("resolve %q: no addresses", name)
	}
	return ctx, net.IP(addrs[0].AsSlice()), nil
}

// Allow implements socks5.RuleSet: the egress policy on the address that
// will be dialed, then the buyer's connection cap. A false answer makes
// go-socks5 reply 0x02 (not allowed by ruleset).
func (s *socksSession) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	if req.Command != socks5.ConnectCommand {
		return ctx, true // go-socks5 answers BIND/ASSOCIATE with "command not supported"
	}
	ip, _ := netip.AddrFromSlice(req.DestAddr.IP)
	port := uint16(req.DestAddr.Port)
	if s.p.cfg.Upstream == nil { // with an upstream, the upstream decides
		if dec := s.p.cfg.Egress.Policy.Check(s.host, ip, port); !dec.Allowed {
			s.p.cfg.Egress.LogDecision(s.buyerID, s.host, ip, port, dec)
			return ctx, false
		} // an allowed decision is logged (if by an allow entry) when dialed
	}

	b := s.p.cfg.Meter.Buyer(s.buyerID)
	if !b.TryOpen(s.p.lim.MaxConnsPerBuyer) {
		s.p.log.Warn("socks5 connection refused: buyer connection cap reached", "buyer", s.buyerID, "max", s.p.lim.MaxConnsPerBuyer)
		return ctx, false
	}
	s.buyer = b
	return ctx, true
}

// dial is go-socks5's Dial. It dials the address Allow checked, answers the
// client itself and runs the spliced, metered relay to the end; go-socks5
// then sees errHijacked and its reply attempt fails on the handed-over conn.
func (s *socksSession) dial(_ context.Context, _, addr string) (net.Conn, error) {
	if !s.framer.done() || s.buyer == nil {
		return nil, errors.New("socks5: request not framed as expected")
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("socks5: dial address %q: %w", addr, err)
	}
	dctx, cancel := context.WithTimeout(s.p.ctx, s.p.lim.HandshakeTimeout)
	var target *net.TCPConn
	if s.p.cfg.Upstream != nil {
		host := s.host
		if host == "" {
			host = ap.Addr().String()
		}
		target, err = s.p.cfg.Upstream(dctx, s.buyerID, host, ap.Port())
	} else {
		target, err = s.p.cfg.Egress.DialChecked(dctx, s.buyerID, s.host, ap.Addr(), ap.Port())
	}
	cancel()
	if err != nil {
		return nil, err // go-socks5 maps "refused" to 0x05, anything else to 0x04
	}
	if !s.p.openTunnel(s.conn, target) {
		return nil, errors.New("socks5: shutting down") // go-socks5 answers 0x04
	}
	s.hijacked = true
	defer s.buyer.Close()
	if _, err := s.conn.Write(socksSuccessReply(target.LocalAddr())); err != nil {
		target.Close()
		return nil, errHijacked
	}
	s.p.runRelay(s.conn, target, s.buyer)
	return nil, errHijacked
}

// socksSuccessReply encodes a SOCKS5 success reply with the bound address.
func socksSuccessReply(bound net.Addr) []byte {
	reply := []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	ta, ok := bound.(*net.TCPAddr)
	if !ok {
		return reply
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		copy(reply[4:8], ip4)
	} else {
		reply = append([]byte{5, 0, 0, 4}, ta.IP.To16()...)
		reply = append(reply, 0, 0)
	}
	binary.BigEndian.PutUint16(reply[len(reply)-2:], uint16(ta.Port))
	return reply
}

// socksHandshakeConn is what go-socks5 sees: reads bounded to the handshake,
// writes refused once the relay owns the connection.
type socksHandshakeConn struct {
	*net.TCPConn
	s *socksSession
}

func (h *socksHandshakeConn) Read(b []byte) (int, error) {
	want := h.s.framer.want()
	if want == 0 {
		return 0, io.EOF
	}
	if len(b) > want {
		b = b[:want]
	}
	n, err := h.TCPConn.Read(b)
	h.s.framer.consume(b[:n])
	return n, err
}

func (h *socksHandshakeConn) Write(b []byte) (int, error) {
	if h.s.hijacked {
		return 0, errHijacked
	}
	return h.TCPConn.Write(b)
}
