package transport

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"
)

// Impairment is injected link trouble: every outgoing datagram is delayed
// by Delay (a one-way delay, so a round trip between two impaired
// endpoints costs 2×Delay) and dropped with probability Loss. The zero
// value is a perfect link.
type Impairment struct {
	Delay time.Duration
	Loss  float64
	// Seed seeds the drop decisions (0 picks a random seed).
	Seed uint64
}

// Active reports whether the impairment changes anything.
func (im Impairment) Active() bool { return im.Delay > 0 || im.Loss > 0 }

// maxQueued bounds the datagrams a Lossy holds back; beyond it a datagram
// is dropped, like a full router buffer.
const maxQueued = 1 << 16

// Lossy is a net.PacketConn that impairs what it sends (see Impairment)
// and passes reads through. It owns the wrapped connection and one
// goroutine that releases delayed datagrams in order.
type Lossy struct {
	net.PacketConn
	im Impairment

	mu      sync.Mutex
	rng     *rand.Rand
	queue   []delayed
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	dropped uint64
}

type delayed struct {
	due  time.Time
	b    []byte
	addr net.Addr
	// oob, with msg set, are a WriteMsgUDP's control messages (a
	// delayLine's write): it is sent again by WriteMsgUDP, with them.
	oob []byte
	msg bool
}

// NewLossy wraps pc. Close closes pc.
func NewLossy(pc net.PacketConn, im Impairment) *Lossy {
	seed := im.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	l := &Lossy{PacketConn: pc, im: im, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go l.run()
	return l
}

// WriteTo implements net.PacketConn: it drops or delays b.
func (l *Lossy) WriteTo(b []byte, addr net.Addr) (int, error) {
	return l.write(delayed{b: b, addr: addr})
}

// write drops or delays d (d.b and d.oob are copied when delayed).
func (l *Lossy) write(d delayed) (int, error) {
	n := len(d.b)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, net.ErrClosed
	}
	if l.im.Loss > 0 && l.rng.Float64() < l.im.Loss {
		l.dropped++
		l.mu.Unlock()
		return n, nil
	}
	if l.im.Delay <= 0 {
		l.mu.Unlock()
		return l.send(d)
	}
	if len(l.queue) >= maxQueued {
		l.dropped++
		l.mu.Unlock()
		return n, nil
	}
	d.due, d.b = time.Now().Add(l.im.Delay), append([]byte(nil), d.b...)
	if d.oob != nil {
		d.oob = append([]byte(nil), d.oob...)
	}
	l.queue = append(l.queue, d)
	first := len(l.queue) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return n, nil
}

// run sends delayed datagrams when they are due. All datagrams carry the
// same delay, so the queue is in due order.
func (l *Lossy) run() {
	defer close(l.stopped)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		l.mu.Lock()
		var next delayed
		ok := len(l.queue) > 0
		if ok {
			next = l.queue[0]
		}
		l.mu.Unlock()
		if !ok {
			select {
			case <-l.wake:
				continue
			case <-l.done:
				return
			}
		}
		if d := time.Until(next.due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-l.done:
				return
			}
		}
		l.mu.Lock()
		if l.closed || len(l.queue) == 0 {
			l.mu.Unlock()
			return
		}
		l.queue[0] = delayed{}
		l.queue = l.queue[1:]
		if len(l.queue) == 0 {
			l.queue = nil
		}
		l.mu.Unlock()
		// A send error on UDP is a lost datagram, as on a real link.
		_, _ = l.send(next)
	}
}

// send writes d to the wrapped connection now.
func (l *Lossy) send(d delayed) (int, error) {
	if d.msg {
		n, _, err := l.PacketConn.(*net.UDPConn).WriteMsgUDP(d.b, d.oob, d.addr.(*net.UDPAddr))
		return n, err
	}
	return l.PacketConn.WriteTo(d.b, d.addr)
}

// Dropped returns how many datagrams were dropped.
func (l *Lossy) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Close stops the delay goroutine, discards held datagrams and closes the
// wrapped connection.
func (l *Lossy) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.queue = nil
	l.mu.Unlock()
	close(l.done)
	<-l.stopped
	return l.PacketConn.Close()
}

// SetReadBuffer passes through to the wrapped connection when it has one
// (quic-go sizes its socket buffers through it).
func (l *Lossy) SetReadBuffer(n int) error {
	if c, ok := l.PacketConn.(interface{ SetReadBuffer(int) error }); ok {
		return c.SetReadBuffer(n)
	}
	return errors.New("lossy: wrapped connection has no read buffer")
}

// SetWriteBuffer passes through to the wrapped connection when it has one.
func (l *Lossy) SetWriteBuffer(n int) error {
	if c, ok := l.PacketConn.(interface{ SetWriteBuffer(int) error }); ok {
		return c.SetWriteBuffer(n)
	}
	return errors.New("lossy: wrapped connection has no write buffer")
}

// SyscallConn passes through to the wrapped connection when it has one.
func (l *Lossy) SyscallConn() (syscall.RawConn, error) {
	if c, ok := l.PacketConn.(syscall.Conn); ok {
		return c.SyscallConn()
	}
	return nil, errors.New("lossy: wrapped connection has no raw connection")
}
