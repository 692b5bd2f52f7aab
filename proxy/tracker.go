package proxy

import (
	"context"
	"net"
	"sync"
)

// tracker owns every listener and connection the front ends hold, so that
// Shutdown can stop accepting, let live tunnels drain, and then close what is
// left without leaking a goroutine.
type tracker struct {
	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]connState
	wg        sync.WaitGroup // one per goroutine serving a tracked conn
	drained   chan struct{}  // closed when conns becomes empty while closing
}

type connState uint8

const (
	stateHandshake connState = iota // not yet relaying: closed at once on shutdown
	stateRelaying                   // a live tunnel: drained on shutdown
)

func newTracker() *tracker {
	return &tracker{
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]connState),
		drained:   make(chan struct{}),
	}
}

// addListener registers l, or reports false when shutting down.
func (t *tracker) addListener(l net.Listener) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.listeners[l] = struct{}{}
	return true
}

// add registers c in the handshake state and counts its serving goroutine;
// it reports false when shutting down, and the caller must then close c.
func (t *tracker) add(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.conns[c] = stateHandshake
	t.wg.Add(1)
	return true
}

// relaying marks c as a live tunnel, or reports false when shutting down.
func (t *tracker) relaying(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	if _, ok := t.conns[c]; ok {
		t.conns[c] = stateRelaying
	}
	return true
}

// done forgets c and ends its goroutine's count.
func (t *tracker) done(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	if t.closing && len(t.conns) == 0 {
		select {
		case <-t.drained:
		default:
			close(t.drained)
		}
	}
	t.mu.Unlock()
	t.wg.Done()
}

// shutdown closes the listeners and every conn still in its handshake, waits
// for tunnels to end until ctx is done, then closes the rest and waits for
// every serving goroutine.
func (t *tracker) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closing = true
	for l := range t.listeners {
		l.Close()
	}
	for c, st := range t.conns {
		if st == stateHandshake {
			c.Close()
		}
	}
	if len(t.conns) == 0 {
		select {
		case <-t.drained:
		default:
			close(t.drained)
		}
	}
	t.mu.Unlock()

	var err error
	select {
	case <-t.drained:
	case <-ctx.Done():
		err = ctx.Err()
		t.mu.Lock()
		for c := range t.conns {
			c.Close()
		}
		t.mu.Unlock()
	}
	t.wg.Wait()
	return err
}
