package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/meter"
	"github.com/x402/x402/proxy/egress"
)

func TestMain(m *testing.M) {
	if allow := os.Getenv(spliceChildEnv); allow != "" {
		os.Exit(runSpliceChild(allow))
	}
	goleak.VerifyTestMain(m)
}

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	testBuyer    = "buyer-alice"
)

// harness is a Proxy serving both front ends on loopback. Its egress policy
// denies everything that is not explicitly allowed, so no test (and no fuzz
// input) can ever reach an address that is not the test's own.
type harness struct {
	t         testing.TB
	p         *Proxy
	meter     *meter.Meter
	socksAddr string
	httpAddr  string
	serveDone sync.WaitGroup
}

type harnessOpt func(*Config, *egress.Config)

func withLimits(l Limits) harnessOpt {
	return func(c *Config, _ *egress.Config) { c.Limits = l }
}

func withAllow(entries ...string) harnessOpt {
	return func(_ *Config, e *egress.Config) { e.Allow = append(e.Allow, entries...) }
}

func withResolver(r egress.Resolver) harnessOpt {
	return func(c *Config, _ *egress.Config) { c.Egress.Resolver = r }
}

func withGate(g meter.Gate) harnessOpt {
	return func(c *Config, _ *egress.Config) { c.Gate = g }
}

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessTB(t, opts...)
}

func newHarnessTB(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	auth, err := NewStaticAuth([]StaticBuyer{
		{Buyer: testBuyer, User: testUser, Password: testPassword},
		{Buyer: "buyer-bob", User: "bob", Password: "bob-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ecfg := egress.Config{DefaultDeny: true}
	cfg := Config{
		Auth:   auth,
		Egress: &egress.Dialer{Logger: testLogger(t)},
		Meter:  meter.New(),
		Logger: testLogger(t),
	}
	for _, o := range opts {
		o(&cfg, &ecfg)
	}
	pol, err := egress.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Egress.Policy = pol
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, p: p, meter: cfg.Meter}
	sl := listenLoopback(t)
	hl := listenLoopback(t)
	h.socksAddr, h.httpAddr = sl.Addr().String(), hl.Addr().String()
	h.serveDone.Add(2)
	go func() { defer h.serveDone.Done(); p.ServeSOCKS5(sl) }()
	go func() { defer h.serveDone.Done(); p.ServeHTTPProxy(hl) }()
	t.Cleanup(func() { h.shutdown(time.Second) })
	return h
}

func (h *harness) shutdown(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := h.p.Shutdown(ctx)
	h.serveDone.Wait()
	return err
}

// usage waits until buyer has no active connection, then returns its usage:
// the relay counts a connection's last chunk before releasing it.
func (h *harness) settledUsage(buyer string) meter.Usage {
	h.t.Helper()
	b := h.meter.Buyer(buyer)
	waitFor(h.t, "buyer connections to end", func() bool { return b.Usage().ActiveConns == 0 })
	return b.Usage()
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("X402_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, cond)
}

// countingTarget is a TCP server on loopback that records exactly how many
// bytes each connection carried, so tests can compare the meter with what
// the destination really saw.
type countingTarget struct {
	l        net.Listener
	accepted atomic.Int64
	read     atomic.Int64
	written  atomic.Int64
	closed   atomic.Int64
	wg       sync.WaitGroup
}

// newSinkSourceTarget serves this protocol: the client sends an 8-byte
// big-endian count D followed by any payload until it half-closes; the
// server then writes D deterministic bytes and closes.
func newSinkSourceTarget(t testing.TB, network, addr string) *countingTarget {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingTarget{l: l}
	ct.wg.Add(1)
	go func() {
		defer ct.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ct.accepted.Add(1)
			ct.wg.Add(1)
			go func() {
				defer ct.wg.Done()
				defer ct.closed.Add(1)
				defer c.Close()
				ct.serveSinkSource(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); ct.wg.Wait() })
	return ct
}

func (ct *countingTarget) serveSinkSource(c net.Conn) {
	var hdr [8]byte
	n, err := io.ReadFull(c, hdr[:])
	ct.read.Add(int64(n))
	if err != nil {
		return
	}
	m, err := io.Copy(io.Discard, c)
	ct.read.Add(m)
	if err != nil {
		return
	}
	w, _ := io.Copy(c, io.LimitReader(&pattern{}, int64(binary.BigEndian.Uint64(hdr[:]))))
	ct.written.Add(w)
}

func (ct *countingTarget) addr() string { return ct.l.Addr().String() }

func (ct *countingTarget) port() string {
	_, p, _ := net.SplitHostPort(ct.addr())
	return p
}

// exchange runs the sink/source protocol over c: sends up payload bytes,
// half-closes, and returns how many bytes came back (checking the pattern).
func exchange(t testing.TB, c net.Conn, up, down int64) int64 {
	t.Helper()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(down))
	if _, err := c.Write(hdr[:]); err != nil {
		t.Fatalf("write header: %v", err)
	}
	if _, err := io.Copy(c, io.LimitReader(&pattern{}, up)); err != nil {
		t.Fatalf("write payload: %v", err)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	got, err := io.Copy(&patternChecker{t: t}, c)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read response: %v", err)
	}
	return got
}

// pattern yields byte i = i mod 251.
type pattern struct{ off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

type patternChecker struct {
	t   testing.TB
	off int64
}

func (p *patternChecker) Write(b []byte) (int, error) {
	for i, c := range b {
		if want := byte((p.off + int64(i)) % 251); c != want {
			p.t.Fatalf("byte %d = %d, want %d: relayed bytes corrupted", p.off+int64(i), c, want)
		}
	}
	p.off += int64(len(b))
	return len(b), nil
}

// countingHTTPOrigin is an HTTP server whose connections count their bytes.
type countingHTTPOrigin struct {
	srv   *http.Server
	l     net.Listener
	read  atomic.Int64
	wrote atomic.Int64
	open  atomic.Int64
}

func newCountingHTTPOrigin(t testing.TB) *countingHTTPOrigin {
	t.Helper()
	o := &countingHTTPOrigin{l: listenLoopback(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(&pattern{}, n))
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// HTTP/1 handlers may not read the body once the response started.
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})
	o.srv = &http.Server{Handler: mux, ConnState: func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			o.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			o.open.Add(-1)
		}
	}}
	go o.srv.Serve(&countingListener{Listener: o.l, o: o})
	t.Cleanup(func() { o.srv.Close() })
	return o
}

func (o *countingHTTPOrigin) addr() string { return o.l.Addr().String() }

type countingListener struct {
	net.Listener
	o *countingHTTPOrigin
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, o: l.o}, nil
}

type countingConn struct {
	net.Conn
	o *countingHTTPOrigin
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.o.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.o.wrote.Add(int64(n))
	return n, err
}
