package proxy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what strangers can make the appliance hold.
type Limits struct {
	// HandshakeTimeout bounds the SOCKS5 handshake or the HTTP request head,
	// from accept to an authenticated request. Default 10s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a tunnel that moved no byte in either direction for
	// this long. Default 5m.
	IdleTimeout time.Duration
	// MaxConnsPerBuyer caps one buyer's concurrent tunnels and requests.
	// Default 64.
	MaxConnsPerBuyer int
	// MaxConns caps all accepted connections of both front ends. Default 1024.
	MaxConns int
	// UnauthBurst and UnauthEvery bound connections from one source address
	// that have not (yet) authenticated: a bucket of UnauthBurst tokens
	// refilled one per UnauthEvery; each accept takes a token and a successful
	// authentication gives it back. Defaults 32 and 250ms.
	UnauthBurst int
	UnauthEvery time.Duration
	// ChunkBytes is the most a relay moves between two meter updates and
	// credit checks. Default 256 KiB.
	ChunkBytes int64
}

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.HandshakeTimeout, 10*time.Second)
	def(&l.IdleTimeout, 5*time.Minute)
	def(&l.UnauthEvery, 250*time.Millisecond)
	if l.MaxConnsPerBuyer <= 0 {
		l.MaxConnsPerBuyer = 64
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 1024
	}
	if l.UnauthBurst <= 0 {
		l.UnauthBurst = 32
	}
	if l.ChunkBytes <= 0 {
		l.ChunkBytes = 256 << 10
	}
	return l
}

// slots counts accepted connections against MaxConns.
type slots struct {
	max  int64
	used atomic.Int64
}

func (s *slots) tryAcquire() bool {
	if s.used.Add(1) > s.max {
		s.used.Add(-1)
		return false
	}
	return true
}

func (s *slots) release() { s.used.Add(-1) }

// sourceLimiter is a token bucket per source address for unauthenticated
// connection attempts.
type sourceLimiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxTrackedSources bounds the limiter's memory under a spray of sources.
const maxTrackedSources = 1 << 14

func newSourceLimiter(burst int, every time.Duration) *sourceLimiter {
	return &sourceLimiter{burst: float64(burst), every: every, now: time.Now, buckets: make(map[netip.Addr]*bucket)}
}

// take spends one token of src, reporting false when it has none.
func (s *sourceLimiter) take(src netip.Addr) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[src]
	if b == nil {
		if len(s.buckets) >= maxTrackedSources {
			s.pruneLocked(now)
		}
		b = &bucket{tokens: s.burst, last: now}
		s.buckets[src] = b
	}
	s.refillLocked(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back the token an accept took, once src authenticated.
func (s *sourceLimiter) refund(src netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[src]; b != nil && b.tokens+1 <= s.burst {
		b.tokens++
	}
}

func (s *sourceLimiter) refillLocked(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(s.burst, b.tokens+float64(elapsed)/float64(s.every))
		b.last = now
	}
}

// pruneLocked forgets full buckets; if none is full it forgets them all, as a
// source spraying that many addresses gains nothing from a fresh bucket that
// any address of its would not also get.
func (s *sourceLimiter) pruneLocked(now time.Time) {
	for a, b := range s.buckets {
		s.refillLocked(b, now)
		if b.tokens >= s.burst {
			delete(s.buckets, a)
		}
	}
	if len(s.buckets) >= maxTrackedSources {
		clear(s.buckets)
	}
}
