package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/x402/x402/internal/testenv"
)

// TestDenialMatrix drives every front end at destinations the egress policy
// must refuse, with real listeners on those loopback addresses: each
// request is answered with the front end's "not allowed" and the listeners
// never see a connection.
func TestDenialMatrix(t *testing.T) {
	v4 := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	v6addr := "[::1]:0"
	if l, err := net.Listen("tcp", v6addr); err != nil {
		testenv.Missing(t, "IPv6 loopback (::1)")
	} else {
		l.Close()
	}
	v6 := newSinkSourceTarget(t, "tcp6", v6addr)
	allowed := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	resolver := testenv.StartDNS(t, map[string][]netip.Addr{
		"loopy.test":    {netip.MustParseAddr("127.0.0.1")},
		"intranet.test": {netip.MustParseAddr("192.168.1.10")},
		"origin.test":   {netip.MustParseAddr("127.0.0.1")},
	})
	// The one allowed destination is reached by name, through a HOST entry.
	h := newHarness(t, withResolver(resolver), withAllow("origin.test:"+allowed.port()))

	p4, p6 := v4.port(), v6.port()
	denied := []struct{ dest, rule string }{
		{"127.0.0.1:" + p4, "loopback"},
		{"localhost:" + p4, "loopback"},
		{"loopy.test:" + p4, "loopback"},
		{"[::1]:" + p6, "loopback"},
		{"[::ffff:127.0.0.1]:" + p4, "loopback"},
		{"0.0.0.0:" + p4, "unspecified"},
		{"[::]:" + p6, "unspecified"},
		{"[64:ff9b::7f00:1]:" + p4, "ipv4-embedded"},
		{"intranet.test:80", "private"},
		// The allowed name on another port is not allowed.
		{"origin.test:" + p4, "loopback"},
	}
	tr := &http.Transport{Proxy: http.ProxyURL(h.httpProxyURL(testUser, testPassword))}
	defer tr.CloseIdleConnections()
	for _, d := range denied {
		t.Run(d.dest, func(t *testing.T) {
			res := socksConnect(t, h.socksAddr, testUser, testPassword, d.dest, nil)
			res.conn.Close()
			if res.reply != 2 {
				t.Errorf("socks5: %v, want reply 0x02", res)
			}
			resp, err := tr.RoundTrip(mustRequest(t, "http://"+d.dest+"/"))
			if err != nil {
				t.Fatalf("plain http: %v", err)
			}
			body := string(mustRead(resp.Body))
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, d.rule) {
				t.Errorf("plain http: %s %q, want 403 naming %q", resp.Status, body, d.rule)
			}
			c, cresp, br := rawConnect(t, h.httpAddr, d.dest, proxyAuthHeader(testUser, testPassword), nil)
			cbody, _ := io.ReadAll(io.LimitReader(br, 4096))
			c.Close()
			if cresp.StatusCode != http.StatusForbidden || !strings.Contains(string(cbody), d.rule) {
				t.Errorf("CONNECT: %s %q, want 403 naming %q", cresp.Status, cbody, d.rule)
			}
		})
	}
	if n := v4.accepted.Load() + v6.accepted.Load(); n != 0 {
		t.Fatalf("denied destinations saw %d connections", n)
	}

	// The allowed name works on every front end, so the matrix above failed
	// for the policy's reasons and not for a broken setup.
	res := socksConnect(t, h.socksAddr, testUser, testPassword, "origin.test:"+allowed.port(), nil)
	if res.reply != 0 {
		t.Fatalf("allowed destination via socks5: %v", res)
	}
	if got := exchange(t, res.conn, 10, 10); got != 10 {
		t.Fatalf("allowed destination via socks5 returned %d bytes", got)
	}
	res.conn.Close()
	c, cresp, _ := rawConnect(t, h.httpAddr, "origin.test:"+allowed.port(), proxyAuthHeader(testUser, testPassword), nil)
	if cresp.StatusCode != http.StatusOK {
		t.Fatalf("allowed destination via CONNECT: %s", cresp.Status)
	}
	c.Close()
	waitFor(t, "allowed target connections", func() bool { return allowed.accepted.Load() == 2 })
}

func mustRequest(t testing.TB, rawURL string) *http.Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(fmt.Errorf("request %s: %w", rawURL, err))
	}
	return req
}
