package egress

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/x402/x402/internal/testenv"
)

// startDNS serves zone from a real DNS server on loopback (testenv.StartDNS).
func startDNS(t testing.TB, zone map[string][]netip.Addr) *net.Resolver {
	return testenv.StartDNS(t, zone)
}

// target is a TCP listener on a loopback address that reports every
// connection it accepts, in order.
type target struct {
	l        net.Listener
	accepted chan net.Conn
	port     uint16
}

func newTarget(t testing.TB, network, addr string) *target {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return serveTarget(t, l)
}

func serveTarget(t testing.TB, l net.Listener) *target {
	tg := &target{l: l, accepted: make(chan net.Conn, 64), port: uint16(l.Addr().(*net.TCPAddr).Port)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(tg.accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tg.accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for c := range tg.accepted {
			c.Close()
		}
	})
	return tg
}

// assertNoAccept fails if the listener has accepted a connection by now.
// A denied dial has returned before this runs, so a connection it had
// made would already be in the accept queue; expectFirst then proves the
// queue was empty.
func (tg *target) assertNoAccept(t testing.TB) {
	t.Helper()
	select {
	case c := <-tg.accepted:
		t.Fatalf("target accepted a connection from %v", c.RemoteAddr())
	default:
	}
}

// expectFirst receives the next accepted connection and checks it is the
// peer of c: every earlier connection attempt would have been accepted
// first.
func (tg *target) expectFirst(t testing.TB, c net.Conn) net.Conn {
	t.Helper()
	got := <-tg.accepted
	if got == nil {
		t.Fatal("target closed")
	}
	if got.RemoteAddr().String() != c.LocalAddr().String() {
		t.Fatalf("target accepted %v first, want the allowed dial from %v", got.RemoteAddr(), c.LocalAddr())
	}
	return got
}

// logRecord is one captured slog record.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]logRecord
}

func newCapture() (*slog.Logger, *captureHandler) {
	h := &captureHandler{mu: new(sync.Mutex), records: new([]logRecord)}
	return slog.New(h), h
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) all() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), *h.records...)
}

// find returns the records at level whose attributes include want.
func (h *captureHandler) find(level slog.Level, want map[string]string) []logRecord {
	var out []logRecord
outer:
	for _, r := range h.all() {
		if r.level != level {
			continue
		}
		for k, v := range want {
			if r.attrs[k] != v {
				continue outer
			}
		}
		out = append(out, r)
	}
	return out
}
