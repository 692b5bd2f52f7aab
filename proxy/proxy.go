package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/proxy/egress"
)

// Config wires the front ends to the rest of the appliance.
type Config struct {
	Auth   Authenticator  // required
	Egress *egress.Dialer // required
	Meter  *meter.Meter   // required
	Gate   meter.Gate     // nil: meter.AllowAll
	Limits Limits
	Logger *slog.Logger // nil: slog.Default()
}

// Proxy runs the SOCKS5 and HTTP front ends over one set of limits, one
// meter and one connection tracker.
type Proxy struct {
	cfg     Config
	lim     Limits
	log     *slog.Logger
	tracker *tracker
	slots   *slots
	sources *sourceLimiter
	http    *httpFront
	// ctx scopes dials and relays; cancelled when Shutdown gives up draining.
	ctx    context.Context
	cancel context.CancelFunc
}

// ErrClosed is returned by the Serve methods once Shutdown has begun.
var ErrClosed = errors.New("proxy: shut down")

// New checks cfg and returns a Proxy ready to serve listeners.
func New(cfg Config) (*Proxy, error) {
	switch {
	case cfg.Auth == nil:
		return nil, errors.New("proxy: no authenticator configured")
	case cfg.Egress == nil || cfg.Egress.Policy == nil:
		return nil, errors.New("proxy: no egress policy configured")
	case cfg.Meter == nil:
		return nil, errors.New("proxy: no meter configured")
	}
	if cfg.Gate == nil {
		cfg.Gate = meter.AllowAll{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	lim := cfg.Limits.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg:     cfg,
		lim:     lim,
		log:     cfg.Logger,
		tracker: newTracker(),
		slots:   &slots{max: int64(lim.MaxConns)},
		sources: newSourceLimiter(lim.UnauthBurst, lim.UnauthEvery),
		ctx:     ctx,
		cancel:  cancel,
	}
	p.http = newHTTPFront(p)
	return p, nil
}

// Shutdown stops accepting, closes connections still in their handshake,
// lets live tunnels finish until ctx ends, then closes them. It returns once
// every goroutine the proxy started has exited.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.http.shutdown(ctx)
	err := p.tracker.shutdown(ctx)
	p.cancel()
	if err != nil {
		return fmt.Errorf("proxy shutdown: tunnels cut after drain timeout: %w", err)
	}
	return nil
}

// admit applies the global connection cap and the per-source budget for
// unauthenticated attempts to a freshly accepted connection. On success the
// caller owns one slot and must release it.
func (p *Proxy) admit(c net.Conn) bool {
	if !p.slots.tryAcquire() {
		p.log.Warn("connection refused: connection cap reached", "src", c.RemoteAddr().String(), "max_conns", p.lim.MaxConns)
		return false
	}
	if !p.sources.take(sourceAddr(c)) {
		p.slots.release()
		p.log.Warn("connection refused: too many unauthenticated attempts", "src", c.RemoteAddr().String())
		return false
	}
	return true
}

// authenticated refunds the source's attempt token.
func (p *Proxy) authenticated(c net.Conn) { p.sources.refund(sourceAddr(c)) }

func sourceAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// startRelay marks client as a live tunnel and relays it to target for buyer.
// It closes both connections when done.
func (p *Proxy) startRelay(client, target *net.TCPConn, buyer *meter.Buyer) {
	client.SetDeadline(noDeadline)
	if !p.tracker.relaying(client) {
		client.Close()
		target.Close()
		return
	}
	r := &relay{client: client, target: target, buyer: buyer, gate: p.cfg.Gate, chunk: p.lim.ChunkBytes, idle: p.lim.IdleTimeout}
	r.run(p.ctx)
}
