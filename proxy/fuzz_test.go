package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzSOCKS5Handshake sends arbitrary bytes to a live SOCKS5 front end on
// loopback (whose policy allows only the test's own target) and checks that
// it answers with SOCKS5 framing or closes, and never hangs or crashes.
func FuzzSOCKS5Handshake(f *testing.F) {
	target := newSinkSourceTarget(f, "tcp", "127.0.0.1:0")
	h := newFuzzHarness(f, target.addr())
	_, port, _ := net.SplitHostPort(target.addr())
	f.Add(socksHandshake(testUser, testPassword, "127.0.0.1", atoi(port)))
	f.Add(append(socksHandshake(testUser, testPassword, "127.0.0.1", atoi(port)), 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3))
	f.Add(socksHandshake(testUser, testPassword, "localhost", 80))
	f.Add(socksHandshake(testUser, "wrong", "127.0.0.1", 80))
	f.Add([]byte{5, 1, 0})
	f.Add([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0})
	f.Add([]byte{5, 0})
	f.Add([]byte{5, 2, 0, 2, 1, 0, 0, 5, 2, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		out := sendRaw(t, h.socksAddr, in)
		if len(out) > 0 && out[0] != 5 {
			t.Fatalf("answer %x does not start with SOCKS version 5", out)
		}
	})
}

// FuzzHTTPProxyRequest sends arbitrary bytes to a live HTTP proxy front end
// on loopback and checks that every answer is HTTP and nothing hangs.
func FuzzHTTPProxyRequest(f *testing.F) {
	target := newSinkSourceTarget(f, "tcp", "127.0.0.1:0")
	h := newFuzzHarness(f, target.addr())
	auth := proxyAuthHeader(testUser, testPassword)
	f.Add([]byte("GET http://" + target.addr() + "/ HTTP/1.1\r\nHost: " + target.addr() + "\r\nProxy-Authorization: " + auth + "\r\n\r\n"))
	f.Add([]byte("CONNECT " + target.addr() + " HTTP/1.1\r\nProxy-Authorization: " + auth + "\r\n\r\n\x00\x00\x00\x00\x00\x00\x00\x05hello"))
	f.Add([]byte("CONNECT 127.0.0.1:1 HTTP/1.1\r\nProxy-Authorization: " + auth + "\r\n\r\n"))
	f.Add([]byte("GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n"))
	f.Add([]byte("POST http://" + target.addr() + "/ HTTP/1.1\r\nProxy-Authorization: " + auth + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00\x05hello"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := sendRaw(t, h.httpAddr, in)
		if len(out) == 0 {
			return
		}
		if !bytes.HasPrefix(out, []byte("HTTP/1.")) {
			t.Fatalf("answer %q is not HTTP", out)
		}
		if _, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil); err != nil {
			t.Fatalf("answer %q does not parse: %v", out, err)
		}
	})
}

func newFuzzHarness(f *testing.F, allow string) *harness {
	return newHarnessTB(f, withAllow(allow), withLimits(Limits{HandshakeTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second, UnauthBurst: 1 << 20, UnauthEvery: time.Nanosecond}))
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// sendRaw writes in to a fresh connection to addr, half-closes it and
// returns everything the proxy answered; the proxy must close on its own.
func sendRaw(t *testing.T, addr string, in []byte) []byte {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(in)
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("proxy neither answered nor closed; got %q", out)
	}
	return out
}
