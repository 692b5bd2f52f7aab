package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/x402/x402/internal/testenv"
)

func TestSOCKS5MetersExactPayloadBytes(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()), withLimits(Limits{ChunkBytes: 64 << 10}))
	const up, down = 3<<20 + 17, 5<<20 + 3
	res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if res.authStatus != 0 || res.reply != 0 {
		t.Fatalf("socks5 connect: %v", res)
	}
	got := exchange(t, res.conn, up, down)
	res.conn.Close()
	if got != down {
		t.Fatalf("received %d bytes, want %d", got, down)
	}
	u := h.settledUsage(testBuyer)
	waitFor(t, "target to close", func() bool { return target.closed.Load() == 1 })
	if u.BytesUp != uint64(target.read.Load()) || u.BytesDown != uint64(target.written.Load()) {
		t.Fatalf("meter up/down = %d/%d, target saw %d/%d", u.BytesUp, u.BytesDown, target.read.Load(), target.written.Load())
	}
	if u.BytesUp != 8+up || u.TotalConns != 1 {
		t.Fatalf("meter %+v, want %d bytes up in 1 connection", u, 8+up)
	}
}

func TestSOCKS5OptimisticDataIsRelayed(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()))
	// Header (ask for 1000 bytes back) and 100 payload bytes travel in the
	// same segment as the handshake, before any reply.
	early := append([]byte{0, 0, 0, 0, 0, 0, 3, 0xe8}, bytes.Repeat([]byte{7}, 100)...)
	res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), early)
	if res.reply != 0 {
		t.Fatalf("socks5 connect: %v", res)
	}
	res.conn.CloseWrite()
	got, _ := io.Copy(io.Discard, res.conn)
	res.conn.Close()
	if got != 1000 {
		t.Fatalf("got %d bytes back, want 1000: optimistic data was lost", got)
	}
	h.settledUsage(testBuyer)
	if r := target.read.Load(); r != 108 {
		t.Fatalf("target read %d bytes, want 108", r)
	}
}

func TestSOCKS5AuthFailures(t *testing.T) {
	h := newHarness(t)
	res := socksConnect(t, h.socksAddr, testUser, "wrong", "127.0.0.1:9", nil)
	if res.authStatus != 1 {
		t.Fatalf("wrong password: %v, want RFC 1929 failure status 1", res)
	}
	res.conn.Close()
	res = socksConnect(t, h.socksAddr, "nobody", testPassword, "127.0.0.1:9", nil)
	if res.authStatus != 1 {
		t.Fatalf("unknown user: %v, want failure status 1", res)
	}
	res.conn.Close()

	// A client offering only "no authentication" gets 0xFF.
	c, err := net.Dial("tcp", h.socksAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5, 1, 0})
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0xFF} {
		t.Fatalf("no-auth client got %v, %v; want 05 FF", sel, err)
	}
	if u := h.meter.Buyer(testBuyer).Usage(); u.TotalConns != 0 {
		t.Fatalf("failed authentications were metered: %+v", u)
	}
}

func TestSOCKS5ReplyCodes(t *testing.T) {
	// A port with nothing listening: take one, then close it.
	l := listenLoopback(t)
	closedAddr := l.Addr().String()
	l.Close()
	h := newHarness(t, withAllow(closedAddr))

	res := socksConnect(t, h.socksAddr, testUser, testPassword, closedAddr, nil)
	if res.reply != 5 {
		t.Errorf("connect to a closed port: %v, want reply 0x05 (refused)", res)
	}
	res.conn.Close()
	res = socksConnect(t, h.socksAddr, testUser, testPassword, "name.invalid:80", nil)
	if res.reply != 4 {
		t.Errorf("unresolvable name: %v, want reply 0x04 (host unreachable)", res)
	}
	res.conn.Close()
	res = socksConnect(t, h.socksAddr, testUser, testPassword, "127.0.0.1:9", nil)
	if res.reply != 2 {
		t.Errorf("denied destination: %v, want reply 0x02 (not allowed)", res)
	}
	res.conn.Close()
	if u := h.settledUsage(testBuyer); u.ActiveConns != 0 || u.BytesUp != 0 {
		t.Fatalf("failed connects left usage %+v", u)
	}
}

func TestSOCKS5WithCurlAndGoClient(t *testing.T) {
	curl := testenv.RequireTool(t, "curl", "curl")
	origin := newCountingHTTPOrigin(t)
	h := newHarness(t, withAllow(origin.addr()))
	const size = 2<<20 + 5
	want := sha256.Sum256(mustRead(io.LimitReader(&pattern{}, size)))

	out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "30",
		"--socks5-hostname", fmt.Sprintf("%s:%s@%s", testUser, strings.ReplaceAll(testPassword, " ", "%20"), h.socksAddr),
		fmt.Sprintf("http://%s/bytes/%d", origin.addr(), size)).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	if len(out) != size || sha256.Sum256(out) != want {
		t.Fatalf("curl got %d bytes (digest mismatch?), want %d", len(out), size)
	}

	d, err := xproxy.SOCKS5("tcp", h.socksAddr, &xproxy.Auth{User: testUser, Password: testPassword}, &net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: nil, DialContext: d.(xproxy.ContextDialer).DialContext}
	resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("http://%s/bytes/%d", origin.addr(), size))
	if err != nil {
		t.Fatal(err)
	}
	body := mustRead(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	if sha256.Sum256(body) != want {
		t.Fatalf("Go client got %d bytes, digest mismatch", len(body))
	}

	u := h.settledUsage(testBuyer)
	waitFor(t, "origin connections to close", func() bool { return origin.open.Load() == 0 })
	if u.TotalConns != 2 || u.BytesDown != uint64(origin.wrote.Load()) || u.BytesUp != uint64(origin.read.Load()) {
		t.Fatalf("meter %+v; origin read %d wrote %d over 2 connections", u, origin.read.Load(), origin.wrote.Load())
	}
}

func TestSOCKS5HandshakeTimeouts(t *testing.T) {
	h := newHarness(t, withLimits(Limits{HandshakeTimeout: 100 * time.Millisecond}))
	for name, prefix := range map[string][]byte{
		"silent":            nil,
		"greeting only":     {5, 1, 2},
		"half of the creds": {5, 1, 2, 1, 5, 'a', 'l'},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", h.socksAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(prefix)
			// The server must close the connection on its own; the client's
			// deadline only bounds a broken test.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server kept a stalled handshake open")
			}
		})
	}
}

func TestSOCKS5IdleTunnelIsClosed(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()), withLimits(Limits{IdleTimeout: 100 * time.Millisecond}))
	res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if res.reply != 0 {
		t.Fatalf("connect: %v", res)
	}
	defer res.conn.Close()
	res.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, res.conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle tunnel was not closed by the proxy")
	}
	if u := h.settledUsage(testBuyer); u.ActiveConns != 0 {
		t.Fatalf("idle tunnel still counted: %+v", u)
	}
}

func TestSOCKS5PerBuyerConnectionCap(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()), withLimits(Limits{MaxConnsPerBuyer: 2}))
	var open []socksResult
	for range 2 {
		res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
		if res.reply != 0 {
			t.Fatalf("connect within the cap: %v", res)
		}
		open = append(open, res)
	}
	over := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if over.reply != 2 {
		t.Fatalf("third connection: %v, want reply 0x02", over)
	}
	over.conn.Close()
	// Another buyer is not affected by alice's cap.
	bob := socksConnect(t, h.socksAddr, "bob", "bob-secret", target.addr(), nil)
	if bob.reply != 0 {
		t.Fatalf("bob's connection: %v", bob)
	}
	bob.conn.Close()
	open[0].conn.Close()
	waitFor(t, "a slot to free", func() bool { return h.meter.Buyer(testBuyer).Usage().ActiveConns < 2 })
	again := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if again.reply != 0 {
		t.Fatalf("connect after a slot freed: %v", again)
	}
	again.conn.Close()
	open[1].conn.Close()
}

func TestUnauthenticatedAttemptsAreRateLimited(t *testing.T) {
	h := newHarness(t, withLimits(Limits{UnauthBurst: 3, UnauthEvery: time.Hour}))
	for i := range 3 {
		res := socksConnect(t, h.socksAddr, testUser, "wrong", "127.0.0.1:9", nil)
		if res.authStatus != 1 {
			t.Fatalf("attempt %d: %v", i, res)
		}
		res.conn.Close()
	}
	// The source's budget is spent: the next connection is closed at once,
	// before any byte of an answer, on both front ends.
	for _, addr := range []string{h.socksAddr, h.httpAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{5, 1, 2})
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		if n != 0 {
			t.Fatalf("%s answered %d bytes to a source over its budget", addr, n)
		}
	}
}

func TestSuccessfulAuthenticationRefundsTheAttempt(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()), withLimits(Limits{UnauthBurst: 2, UnauthEvery: time.Hour}))
	for i := range 5 {
		res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
		if res.reply != 0 {
			t.Fatalf("authenticated connection %d refused: %v", i, res)
		}
		exchange(t, res.conn, 1, 1)
		res.conn.Close()
	}
}

func TestShutdownDrainsThenCutsLiveTunnels(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()))
	res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if res.reply != 0 {
		t.Fatalf("connect: %v", res)
	}
	defer res.conn.Close()
	// A half-open handshake is closed at once by Shutdown.
	idle, err := net.Dial("tcp", h.socksAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitFor(t, "both connections to be tracked", func() bool {
		h.p.tracker.mu.Lock()
		defer h.p.tracker.mu.Unlock()
		return len(h.p.tracker.conns) == 2
	})
	err = h.shutdown(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "cut") {
		t.Fatalf("Shutdown with a live tunnel past its grace: %v, want a cut report", err)
	}
	res.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, res.conn); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("tunnel survived Shutdown")
		}
	}
	if _, err := net.Dial("tcp", h.socksAddr); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
}

func TestShutdownWaitsForTunnelsThatFinish(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()))
	res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if res.reply != 0 {
		t.Fatalf("connect: %v", res)
	}
	done := make(chan error, 1)
	go func() { done <- h.shutdown(10 * time.Second) }()
	// The tunnel still works while the proxy drains.
	if got := exchange(t, res.conn, 10, 4096); got != 4096 {
		t.Fatalf("during drain got %d bytes, want 4096", got)
	}
	res.conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown after the tunnel finished: %v", err)
	}
}

func TestGateIsAskedBeforeEveryChunk(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	g := &stingyGate{grant: 1000}
	h := newHarness(t, withAllow(target.addr()), withGate(g))
	res := socksConnect(t, h.socksAddr, testUser, testPassword, target.addr(), nil)
	if res.reply != 0 {
		t.Fatalf("connect: %v", res)
	}
	got := exchange(t, res.conn, 5000, 20000)
	res.conn.Close()
	if got != 20000 {
		t.Fatalf("got %d bytes, want 20000", got)
	}
	h.settledUsage(testBuyer)
	// 5008 bytes up and 20000 down in grants of at most 1000 bytes.
	if calls := g.calls.Load(); calls < 26 {
		t.Fatalf("gate asked %d times, want at least 26 (one per chunk of <= 1000 bytes)", calls)
	}
}

func mustRead(r io.Reader) []byte {
	b, err := io.ReadAll(r)
	if err != nil {
		panic(err)
	}
	return b
}

var _ = context.Background
