package quicnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"
)

// Endpoint is a UDP socket with its QUIC transport, owned by one server or
// connection and closed synchronously with it (quic.ListenAddr and
// quic.DialAddr close theirs in the background).
type Endpoint struct {
	udp *net.UDPConn
	tr  *quic.Transport
}

func newEndpoint(laddr *net.UDPAddr) (*Endpoint, error) {
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	return &Endpoint{udp: udp, tr: &quic.Transport{Conn: udp}}, nil
}

// Close stops the transport (and every listener and connection on it) and
// closes the socket.
func (e *Endpoint) Close() {
	_ = e.tr.Close()
	_ = e.udp.Close()
}

// Listen listens on addr (host:port) on its own endpoint.
func Listen(addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Listener, *Endpoint, error) {
	laddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	ep, err := newEndpoint(laddr)
	if err != nil {
		return nil, nil, err
	}
	ln, err := ep.tr.Listen(tlsConf, conf)
	if err != nil {
		ep.Close()
		return nil, nil, err
	}
	return ln, ep, nil
}

// Dial connects to addr from its own endpoint.
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, *Endpoint, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	ep, err := newEndpoint(nil)
	if err != nil {
		return nil, nil, err
	}
	conn, err := ep.tr.Dial(ctx, raddr, tlsConf, conf)
	if err != nil {
		ep.Close()
		return nil, nil, fmt.Errorf("quic dial: %w", err)
	}
	return conn, ep, nil
}
