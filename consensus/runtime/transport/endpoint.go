package transport

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"
)

// ALPN is the TLS application protocol of the PBFT transport.
const ALPN = "x402-pbft/1"

// Timeouts of the QUIC connections.
const (
	handshakeTimeout = 3 * time.Second
	idleTimeout      = 5 * time.Second
	keepAlive        = time.Second
	dialTimeout      = 2 * time.Second
	headerTimeout    = 10 * time.Second
)

func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  handshakeTimeout,
		MaxIdleTimeout:        idleTimeout,
		KeepAlivePeriod:       keepAlive,
		MaxIncomingStreams:    64,
		MaxIncomingUniStreams: -1,
	}
}

// Endpoint is one UDP socket with its QUIC transport: a replica listens and
// dials its peers on one, a client dials every replica from one. Close
// stops every listener and connection on it and closes the socket.
type Endpoint struct {
	pc net.PacketConn
	tr *quic.Transport
}

// NewEndpoint takes ownership of pc (normally a *net.UDPConn), wrapping it
// in a Lossy when im is active (a delayLine when it only delays a UDP
// socket). key derives the stateless reset key, so a
// restarted endpoint with the same key resets its peers' stale
// connections at once instead of letting them idle out.
func NewEndpoint(pc net.PacketConn, key ed25519.PrivateKey, im Impairment) *Endpoint {
	if im.Active() {
		pc = newImpaired(pc, im)
	}
	rk := quic.StatelessResetKey(sha256.Sum256(append([]byte("x402/pbft/stateless-reset\x00"), key.Seed()...)))
	return &Endpoint{pc: pc, tr: &quic.Transport{Conn: pc, StatelessResetKey: &rk}}
}

// ListenEndpoint opens a UDP socket on addr ("host:port"; port 0 picks one)
// and returns it as an Endpoint.
func ListenEndpoint(addr string, key ed25519.PrivateKey, im Impairment) (*Endpoint, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", addr, err)
	}
	return NewEndpoint(udp, key, im), nil
}

// Addr returns the local address.
func (e *Endpoint) Addr() net.Addr { return e.pc.LocalAddr() }

// Close stops the transport and closes the socket.
func (e *Endpoint) Close() {
	_ = e.tr.Close()
	_ = e.pc.Close()
}
