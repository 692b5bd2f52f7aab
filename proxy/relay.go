package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/x402/x402/meter"
)

// firstChunk is a direction's first grant request.
const firstChunk = 4 << 10

// relay moves bytes both ways between a buyer's connection and the
// destination. Both ends are *net.TCPConn and every copy is
// io.Copy(dst, &io.LimitedReader{R: src, N: chunk}), which Linux turns into
// splice(2): the payload never enters user space. Each chunk is counted in the
// buyer's meter and preceded by a credit-gate Acquire.
type relay struct {
	client, target *net.TCPConn
	buyer          *meter.Buyer
	gate           meter.Gate
	chunk          int64
	idle           time.Duration
	maxHold        time.Duration // 0: a grant may be held until idle
	lastActive     atomic.Int64  // unix nanoseconds of the last byte moved
}

// run relays until both directions end, then closes both connections.
func (r *relay) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if h, ok := r.gate.(meter.HoldLimiter); ok {
		r.maxHold = h.MaxHold()
	}
	r.lastActive.Store(time.Now().UnixNano())
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		r.pipe(ctx, r.target, r.client, r.buyer.AddUp)
	}()
	r.pipe(ctx, r.client, r.target, r.buyer.AddDown)
	<-upDone
	r.client.Close()
	r.target.Close()
}

// pipe copies src to dst chunk by chunk. On EOF it half-closes dst and
// returns, leaving the other direction running; on any other end it closes
// both connections so the other direction stops too.
//
// A direction takes credit only once its source has bytes to read, and
// chunks start small and double while they fill; with a gate that limits
// holding, a chunk that stalls returns its unused credit after MaxHold. So
// quiet directions (the upload side of a download, idle pooled connections)
// never sit on a buyer's credit window.
func (r *relay) pipe(ctx context.Context, dst, src *net.TCPConn, count func(int64)) {
	want := min(r.chunk, firstChunk)
	for {
		r.setDeadline(src, r.idle)
		if err := waitReadable(src); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && r.activeWithin(r.idle) {
				continue // this direction idled, the other did not
			}
			r.abort()
			return
		}
		n, err := r.gate.Acquire(ctx, r.buyer, want)
		if err != nil {
			r.abort()
			return
		}
		hold := r.idle
		if r.maxHold > 0 && (hold <= 0 || r.maxHold < hold) {
			hold = r.maxHold
		}
		r.setDeadline(src, hold)
		moved, err := io.Copy(dst, &io.LimitedReader{R: src, N: n})
		count(moved)
		r.gate.Release(r.buyer, n, moved)
		if moved > 0 {
			r.lastActive.Store(time.Now().UnixNano())
		}
		if moved == n {
			want = min(2*want, r.chunk)
		} else {
			want = min(r.chunk, firstChunk)
		}
		switch {
		case err == nil && moved < n: // EOF from src
			dst.CloseWrite()
			return
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && r.activeWithin(r.idle):
			// The chunk stalled past its hold limit, or this direction idled
			// while the other did not: keep the tunnel.
		default:
			r.abort()
			return
		}
	}
}

func (r *relay) setDeadline(c *net.TCPConn, d time.Duration) {
	if d > 0 {
		c.SetReadDeadline(time.Now().Add(d))
	}
}

func (r *relay) activeWithin(d time.Duration) bool {
	return time.Since(time.Unix(0, r.lastActive.Load())) < d
}

func (r *relay) abort() {
	r.client.Close()
	r.target.Close()
}

// writePrefix writes early bytes a front end already read from the
// client (for example a TLS ClientHello sent with the CONNECT request) to the
// target, counting them, before the spliced relay starts.
func writePrefix(target io.Writer, prefix []byte, buyer *meter.Buyer) error {
	if len(prefix) == 0 {
		return nil
	}
	n, err := target.Write(prefix)
	buyer.AddUp(int64(n))
	return err
}
