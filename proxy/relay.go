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

// relay moves bytes both ways between a buyer's connection and the
// destination. Both ends are *net.TCPConn and every copy is
// io.Copy(dst, &io.LimitedReader{R: src, N: chunk}), which Linux turns into
// splice(2): the payload never enters user space. Each chunk is counted in the
// buyer's meter and preceded by a credit-gate Acquire.
// firstChunk is a direction's first grant request.
const firstChunk = 4 << 10

type relay struct {
	client, target *net.TCPConn
	buyer          *meter.Buyer
	gate           meter.Gate
	chunk          int64
	idle           time.Duration
	lastActive     atomic.Int64 // unix nanoseconds of the last byte moved
}

// run relays until both directions end, then closes both connections.
func (r *relay) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
func (r *relay) pipe(ctx context.Context, dst, src *net.TCPConn, count func(int64)) {
	// Chunks start small and double while they fill, so a direction that
	// idles (the upload side of a download) holds little of the buyer's
	// credit while it waits, and a busy one soon moves whole chunks.
	want := min(r.chunk, firstChunk)
	for {
		n, err := r.gate.Acquire(ctx, r.buyer, want)
		if err != nil {
			r.abort()
			return
		}
		if r.idle > 0 {
			src.SetReadDeadline(time.Now().Add(r.idle))
		}
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
			// This direction idled, the other did not: keep the tunnel.
		default:
			r.abort()
			return
		}
	}
}

func (r *relay) activeWithin(d time.Duration) bool {
	return time.Since(time.Unix(0, r.lastActive.Load())) < d
}

func (r *relay) abort() {
	r.client.Close()
	r.target.Close()
}

// relayWithPrefix writes early bytes a front end already read from the
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
