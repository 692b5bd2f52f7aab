package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/internal/testenv"
)

func proxyAuthHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func (h *harness) httpProxyURL(user, pass string) *url.URL {
	return &url.URL{Scheme: "http", User: url.UserPassword(user, pass), Host: h.httpAddr}
}

// rawConnect sends a CONNECT (plus early bytes) and returns the conn and
// the proxy's response head.
func rawConnect(t testing.TB, proxyAddr, target, auth string, early []byte) (*net.TCPConn, *http.Response, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if auth != "" {
		req += "Proxy-Authorization: " + auth + "\r\n"
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append([]byte(req+"\r\n"), early...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("read CONNECT response: %v", err)
	}
	c.SetDeadline(time.Time{})
	return c.(*net.TCPConn), resp, br
}

func TestHTTPConnectMetersExactPayloadBytes(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()))
	c, resp, br := rawConnect(t, h.httpAddr, target.addr(), proxyAuthHeader(testUser, testPassword), nil)
	defer c.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %s", resp.Status)
	}
	if br.Buffered() != 0 {
		t.Fatalf("%d unexpected bytes after the 200", br.Buffered())
	}
	const up, down = 1<<20 + 1, 3<<20 + 7
	if got := exchange(t, c, up, down); got != down {
		t.Fatalf("got %d bytes, want %d", got, down)
	}
	c.Close()
	u := h.settledUsage(testBuyer)
	waitFor(t, "target to close", func() bool { return target.closed.Load() == 1 })
	if u.BytesUp != 8+up || u.BytesDown != down || u.BytesUp != uint64(target.read.Load()) {
		t.Fatalf("meter %+v, target read %d wrote %d", u, target.read.Load(), target.written.Load())
	}
}

func TestHTTPConnectForwardsEarlyBytes(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()))
	early := append([]byte{0, 0, 0, 0, 0, 0, 0, 50}, []byte("sent with the CONNECT")...)
	c, resp, br := rawConnect(t, h.httpAddr, target.addr(), proxyAuthHeader(testUser, testPassword), early)
	defer c.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %s", resp.Status)
	}
	c.CloseWrite()
	n, _ := io.Copy(io.Discard, br)
	if n != 50 {
		t.Fatalf("got %d bytes back, want 50: bytes sent with the CONNECT were lost", n)
	}
	h.settledUsage(testBuyer)
	if r := target.read.Load(); r != int64(len(early)) {
		t.Fatalf("target read %d bytes, want %d", r, len(early))
	}
}

func TestHTTPProxyAuthentication(t *testing.T) {
	origin := newCountingHTTPOrigin(t)
	h := newHarness(t, withAllow(origin.addr()))
	for name, auth := range map[string]string{
		"missing":      "",
		"wrong":        proxyAuthHeader(testUser, "nope"),
		"not basic":    "Bearer abc",
		"bad base64":   "Basic !!!",
		"unknown user": proxyAuthHeader("mallory", testPassword),
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+origin.addr()+"/bytes/10", nil)
			if auth != "" {
				req.Header.Set("Proxy-Authorization", auth)
			}
			tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: h.httpAddr})}
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") != proxyRealm {
				t.Fatalf("plain request: %s, Proxy-Authenticate %q", resp.Status, resp.Header.Get("Proxy-Authenticate"))
			}
			c, cresp, _ := rawConnect(t, h.httpAddr, origin.addr(), auth, nil)
			c.Close()
			if cresp.StatusCode != http.StatusProxyAuthRequired || cresp.Header.Get("Proxy-Authenticate") != proxyRealm {
				t.Fatalf("CONNECT: %s, Proxy-Authenticate %q", cresp.Status, cresp.Header.Get("Proxy-Authenticate"))
			}
		})
	}
	if origin.read.Load() != 0 {
		t.Fatal("an unauthenticated request reached the origin")
	}
}

func TestHTTPProxyWithCurl(t *testing.T) {
	curl := testenv.RequireTool(t, "curl", "curl")
	origin := newCountingHTTPOrigin(t)
	h := newHarness(t, withAllow(origin.addr()))
	const size = 1<<20 + 99
	want := sha256.Sum256(mustRead(io.LimitReader(&pattern{}, size)))
	proxyURL := "http://" + h.httpAddr
	for _, mode := range []string{"plain", "CONNECT"} {
		args := []string{"-sS", "--fail", "--max-time", "30", "--proxy", proxyURL, "--proxy-user", testUser + ":" + testPassword}
		if mode == "CONNECT" {
			args = append(args, "--proxytunnel")
		}
		args = append(args, fmt.Sprintf("http://%s/bytes/%d", origin.addr(), size))
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", mode, err)
		}
		if len(out) != size || sha256.Sum256(out) != want {
			t.Fatalf("curl %s got %d bytes or a wrong digest", mode, len(out))
		}
	}
	u := h.settledUsage(testBuyer)
	h.p.http.transport.CloseIdleConnections() // the plain request's pooled upstream conn
	waitFor(t, "origin connections to close", func() bool { return origin.open.Load() == 0 })
	// The CONNECT tunnel carries exactly the origin's bytes; the plain request
	// is metered as its heads and body, which are at least the body and
	// within a small header allowance of what the origin wrote.
	if u.BytesDown < 2*size || u.BytesDown > uint64(origin.wrote.Load())+1024 {
		t.Fatalf("meter down %d; origin wrote %d for two %d-byte bodies", u.BytesDown, origin.wrote.Load(), size)
	}
	if u.TotalConns != 2 {
		t.Fatalf("meter counted %d connections, want 2 (one request, one tunnel)", u.TotalConns)
	}
}

func TestHTTPProxyPlainRequestsWithGoClient(t *testing.T) {
	origin := newCountingHTTPOrigin(t)
	h := newHarness(t, withAllow(origin.addr()))
	tr := &http.Transport{Proxy: http.ProxyURL(h.httpProxyURL(testUser, testPassword))}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := bytes.Repeat([]byte("upload "), 10000)
	for i := range 3 {
		resp, err := client.Post("http://"+origin.addr()+"/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got := mustRead(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("request %d: echo returned %d bytes, want %d", i, len(got), len(body))
		}
	}
	u := h.settledUsage(testBuyer)
	if u.TotalConns != 3 || u.BytesUp < 3*uint64(len(body)) || u.BytesDown < 3*uint64(len(body)) {
		t.Fatalf("meter %+v after three %d-byte echoes", u, len(body))
	}
	if u.BytesUp > 3*uint64(len(body))+3*1024 {
		t.Fatalf("meter up %d overcounts three %d-byte uploads", u.BytesUp, len(body))
	}
}

func TestHTTPProxyIgnoresProxyEnvironment(t *testing.T) {
	// If the transport consulted HTTP_PROXY, requests would go to this
	// listener instead of the origin.
	decoy := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	t.Setenv("HTTP_PROXY", "http://"+decoy.addr())
	t.Setenv("HTTPS_PROXY", "http://"+decoy.addr())
	t.Setenv("http_proxy", "http://"+decoy.addr())
	origin := newCountingHTTPOrigin(t)
	h := newHarness(t, withAllow(origin.addr()))
	tr := &http.Transport{Proxy: http.ProxyURL(h.httpProxyURL(testUser, testPassword))}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + origin.addr() + "/bytes/100")
	if err != nil {
		t.Fatal(err)
	}
	n := len(mustRead(resp.Body))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != 100 {
		t.Fatalf("got %s with %d bytes", resp.Status, n)
	}
	if decoy.accepted.Load() != 0 {
		t.Fatal("the proxy's transport used HTTP_PROXY from the environment")
	}
}

func TestHTTPProxyPerBuyerCapOnConnect(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	h := newHarness(t, withAllow(target.addr()), withLimits(Limits{MaxConnsPerBuyer: 1}))
	c, resp, _ := rawConnect(t, h.httpAddr, target.addr(), proxyAuthHeader(testUser, testPassword), nil)
	defer c.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first CONNECT: %s", resp.Status)
	}
	c2, resp2, _ := rawConnect(t, h.httpAddr, target.addr(), proxyAuthHeader(testUser, testPassword), nil)
	c2.Close()
	if resp2.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second CONNECT over the cap: %s, want 429", resp2.Status)
	}
}

func TestHTTPProxyRejectsNonProxyRequests(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get("http://" + h.httpAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b := mustRead(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "proxy") {
		t.Fatalf("origin-form request: %s %q", resp.Status, b)
	}
}

func TestHTTPProxyRefusesUpgrades(t *testing.T) {
	origin := newCountingHTTPOrigin(t)
	h := newHarness(t, withAllow(origin.addr()))
	req := mustRequest(t, "http://"+origin.addr()+"/ws")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	tr := &http.Transport{Proxy: http.ProxyURL(h.httpProxyURL(testUser, testPassword))}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || origin.read.Load() != 0 {
		t.Fatalf("upgrade request: %s, origin read %d bytes", resp.Status, origin.read.Load())
	}
	if u := h.meter.Buyer(testBuyer).Usage(); u.ActiveConns != 0 {
		t.Fatalf("a refused upgrade holds a slot: %+v", u)
	}
}

// An origin that dies in the middle of its answer: the client must see an
// interrupted answer, not a whole one that is short.
func TestHTTPProxyPassesOnAnAnswerCutShort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		// One chunk, then the connection ends without the last chunk.
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	}()
	h := newHarness(t, withAllow(l.Addr().String()))
	tr := &http.Transport{Proxy: http.ProxyURL(h.httpProxyURL(testUser, testPassword))}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + l.Addr().String() + "/")
	if err != nil {
		return // interrupted before the head was flushed: as good
	}
	defer resp.Body.Close()
	if got, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("an answer cut short arrived whole: %d %q", resp.StatusCode, got)
	}
}
