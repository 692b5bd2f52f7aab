package transport

import (
	"net"

	"golang.org/x/net/ipv4"
)

// delayLine is a Lossy that only delays, over a UDP socket, and keeps
// quic-go's fast path: it offers what quic-go looks for in a
// net.PacketConn (quic.OOBCapablePacketConn, and batched reads), so over
// an injected delay quic-go still reads many datagrams per system call and
// sends a burst of packets to one peer as one segmented write (GSO), as on
// a bare socket. The benchmark's links then cost what a deployment's do.
//
// Reads pass through. A WriteMsgUDP is delayed as a whole, control
// messages included (a segmented write's datagrams leave together); an
// error from the late write is a lost datagram, as for WriteTo. A Lossy
// that drops datagrams does not offer this path: its losses are per
// datagram, and a segmented write is several.
type delayLine struct {
	*Lossy
	udp   *net.UDPConn
	batch *ipv4.PacketConn
}

// newImpaired wraps pc for im: a delayLine when pc is a UDP socket and im
// only delays, else a Lossy.
func newImpaired(pc net.PacketConn, im Impairment) net.PacketConn {
	udp, ok := pc.(*net.UDPConn)
	if !ok || im.Loss > 0 {
		return NewLossy(pc, im)
	}
	return &delayLine{Lossy: NewLossy(udp, im), udp: udp, batch: ipv4.NewPacketConn(udp)}
}

// ReadMsgUDP reads one datagram and its control messages.
func (d *delayLine) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	return d.udp.ReadMsgUDP(b, oob)
}

// ReadBatch reads up to len(ms) datagrams in one system call.
func (d *delayLine) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return d.batch.ReadBatch(ms, flags)
}

// WriteMsgUDP delays b and its control messages oob, then sends them.
func (d *delayLine) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	n, err = d.write(delayed{b: b, addr: addr, oob: oob, msg: true})
	return n, len(oob), err
}
