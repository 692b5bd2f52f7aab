package session

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"
)

// endpoint is a UDP socket with its QUIC transport, owned by one server or
// session and closed synchronously with it, so no transport goroutine
// outlives its owner (quic.ListenAddr and quic.DialAddr close theirs in the
// background).
type endpoint struct {
	udp *net.UDPConn
	tr  *quic.Transport
}

func newEndpoint(laddr *net.UDPAddr) (*endpoint, error) {
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	return &endpoint{udp: udp, tr: &quic.Transport{Conn: udp}}, nil
}

// close stops the transport (and every listener and connection on it) and
// closes the socket.
func (e *endpoint) close() {
	_ = e.tr.Close()
	_ = e.udp.Close()
}

// listenQUIC listens on addr (host:port) on its own endpoint.
func listenQUIC(addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Listener, *endpoint, error) {
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
		ep.close()
		return nil, nil, err
	}
	return ln, ep, nil
}

// dialQUIC connects to addr from its own endpoint.
func dialQUIC(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, *endpoint, error) {
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
		ep.close()
		return nil, nil, fmt.Errorf("quic dial: %w", err)
	}
	return conn, ep, nil
}
