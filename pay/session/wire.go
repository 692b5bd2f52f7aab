package session

import (
	"net"

	"github.com/quic-go/quic-go"
)

// WireStats is a session's traffic on the wire, both directions: every
// QUIC packet (handshake, frames, datagrams, acknowledgements,
// retransmissions) with its UDP and IP headers.
type WireStats struct {
	Packets uint64
	Bytes   uint64
}

// udpIPHeaders is the UDP plus IP header size of one packet to addr.
func udpIPHeaders(addr net.Addr) uint64 {
	if a, ok := addr.(*net.UDPAddr); ok && a.IP.To4() == nil {
		return 8 + 40
	}
	return 8 + 20
}

func wireStats(c *quic.Conn) WireStats {
	s := c.ConnectionStats()
	packets := s.PacketsSent + s.PacketsReceived
	return WireStats{Packets: packets, Bytes: s.BytesSent + s.BytesReceived + packets*udpIPHeaders(c.RemoteAddr())}
}

// Wire is the session's traffic on the wire so far; after Close, all of it.
func (b *BuyerSession) Wire() WireStats { return wireStats(b.conn) }
