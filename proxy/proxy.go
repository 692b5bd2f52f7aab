package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/proxy/egress"
)

// Config wires the front ends to the rest of the appliance.
type Config struct {
	Auth   Authenticator  // required
	Egress *egress.Dialer // required unless Upstream is set
	// Upstream, when set, opens every tunnel instead of Egress: the front
	// ends then resolve nothing and check nothing themselves (the buyer
	// agent's local endpoint forwards everything to its seller this way).
	Upstream Upstream
	Meter    *meter.Meter // required
	Gate     meter.Gate   // nil: meter.AllowAll
	Limits   Limits
	Logger   *slog.Logger // nil: slog.Default()
}

// Upstream opens the destination side of a tunnel for buyer to host:port
// (host as the client named it). It must return a *net.TCPConn whose
// handshake, if any, is complete, so the relay can splice it.
type Upstream func(ctx context.Context, buyer, host string, port uint16) (*net.TCPConn, error)

// dial opens a tunnel's destination through Upstream or the egress dialer.
func (p *Proxy) dial(ctx context.Context, buyer, hostport string) (*net.TCPConn, error) {
	if p.cfg.Upstream == nil {
		return p.cfg.Egress.DialTCP(ctx, buyer, hostport)
	}
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", hostport, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("dial %q: bad port", hostport)
	}
	return p.cfg.Upstream(ctx, buyer, host, uint16(port))
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
	case cfg.Upstream == nil && (cfg.Egress == nil || cfg.Egress.Policy == nil):
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

// openTunnel marks client as a live tunnel before the front end tells the
// client it is connected, so a Shutdown from then on drains it instead of
// cutting it as a handshake. It reports false (and closes target) when the
// proxy is shutting down: the client must then be refused.
func (p *Proxy) openTunnel(client, target *net.TCPConn) bool {
	if !p.tracker.relaying(client) {
		target.Close()
		return false
	}
	client.SetDeadline(noDeadline)
	return true
}

// runRelay relays an opened tunnel to target for buyer and closes both
// connections when done.
func (p *Proxy) runRelay(client, target *net.TCPConn, buyer *meter.Buyer) {
	r := &relay{client: client, target: target, buyer: buyer, gate: p.cfg.Gate, chunk: p.lim.ChunkBytes, idle: p.lim.IdleTimeout}
	r.run(p.ctx)
}
