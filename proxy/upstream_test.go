package proxy

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/x402/x402/meter"
)

// TestUpstreamChainsTwoProxies runs a local proxy whose Upstream tunnels
// through a second ("seller") proxy with SOCKS5, as the buyer agent's local
// endpoint does: both count the same tunnel payload.
func TestUpstreamChainsTwoProxies(t *testing.T) {
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	seller := newHarness(t, withAllow(target.addr()))
	upstream := func(ctx context.Context, _, host string, port uint16) (*net.TCPConn, error) {
		return DialSOCKS5(ctx, seller.socksAddr, testUser, testPassword, host, port)
	}
	auth, _ := NewStaticAuth([]StaticBuyer{{Buyer: "me", User: "local", Password: "pw"}})
	local, err := New(Config{Auth: auth, Upstream: upstream, Meter: meter.New(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sl, hl := listenLoopback(t), listenLoopback(t)
	done := make(chan struct{}, 2)
	go func() { local.ServeSOCKS5(sl); done <- struct{}{} }()
	go func() { local.ServeHTTPProxy(hl); done <- struct{}{} }()
	defer func() {
		local.Shutdown(context.Background())
		<-done
		<-done
	}()

	res := socksConnect(t, sl.Addr().String(), "local", "pw", target.addr(), nil)
	if res.reply != 0 {
		t.Fatalf("socks5 via the local endpoint: %v", res)
	}
	if got := exchange(t, res.conn, 5000, 70000); got != 70000 {
		t.Fatalf("got %d bytes, want 70000", got)
	}
	res.conn.Close()
	c, resp, _ := rawConnect(t, hl.Addr().String(), target.addr(), proxyAuthHeader("local", "pw"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT via the local endpoint: %s", resp.Status)
	}
	if got := exchange(t, c, 10, 1000); got != 1000 {
		t.Fatalf("got %d bytes, want 1000", got)
	}
	c.Close()
	waitFor(t, "local tunnels to end", func() bool { return local.cfg.Meter.Buyer("me").Usage().ActiveConns == 0 })
	mine, theirs := local.cfg.Meter.Buyer("me").Usage(), seller.settledUsage(testBuyer)
	if mine.BytesUp != theirs.BytesUp || mine.BytesDown != theirs.BytesDown || mine.BytesDown != 71000 {
		t.Fatalf("local endpoint counted %+v, seller %+v", mine, theirs)
	}
}

func TestDialSOCKS5ReportsTheProxysAnswer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := DialSOCKS5(ctx, h.socksAddr, testUser, "wrong", "127.0.0.1", 9); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := DialSOCKS5(ctx, h.socksAddr, testUser, testPassword, "127.0.0.1", 9); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("denied destination: %v", err)
	}
}
