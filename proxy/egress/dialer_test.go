package egress

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// connectLog records the addresses a Dialer was about to connect to.
type connectLog struct {
	mu    sync.Mutex
	addrs []netip.AddrPort
}

func (l *connectLog) record(ap netip.AddrPort) {
	l.mu.Lock()
	l.addrs = append(l.addrs, ap)
	l.mu.Unlock()
}

func (l *connectLog) get() []netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]netip.AddrPort(nil), l.addrs...)
}

// newTestDialer returns a Dialer over cfg (always DefaultDeny, so nothing
// but allow entries can ever be dialed), the test DNS resolver, a log
// capture and a record of connect attempts.
func newTestDialer(t *testing.T, cfg Config, r Resolver) (*Dialer, *captureHandler, *connectLog) {
	t.Helper()
	cfg.DefaultDeny = true
	log, capture := newCapture()
	cl := &connectLog{}
	d := &Dialer{Policy: mustPolicy(t, cfg), Resolver: r, Logger: log, beforeConnect: cl.record}
	return d, capture, cl
}

func wantDenied(t *testing.T, err error, host string, ip netip.Addr, port uint16, rule string) *DeniedError {
	t.Helper()
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *DeniedError", err, err)
	}
	if de.Host != host || de.IP != ip || de.Port != port || de.Rule != rule {
		t.Fatalf("denied %+v, want host %q ip %v port %d rule %q", de, host, ip, port, rule)
	}
	return de
}

func port(p uint16) string { return strconv.Itoa(int(p)) }

// TestDialDeniedNeverConnects dials loopback destinations the policy
// denies: each dial fails with the rule, the denial is logged, and the
// listener sees no connection; a final allowed dial proves it was
// listening all along.
func TestDialDeniedNeverConnects(t *testing.T) {
	v4 := newTarget(t, "tcp4", "127.0.0.1:0")
	v6 := newTarget(t, "tcp6", "[::1]:0")
	p4, p6 := port(v4.port), port(v6.port)
	res := startDNS(t, map[string][]netip.Addr{
		"localhost":  {lo4, lo6},
		"loopy.test": {lo4},
	})
	d, capture, connects := newTestDialer(t, Config{}, res)
	ctx := context.Background()
	for _, c := range []struct {
		dest string
		host string
		ip   netip.Addr
		port uint16
		rule string
	}{
		{"127.0.0.1:" + p4, "127.0.0.1", lo4, v4.port, "loopback"},
		// The first candidate of localhost may be either loopback (/etc/hosts
		// or the DNS server, RFC 6724 order); netip.Addr{} accepts both.
		{"localhost:" + p4, "localhost", netip.Addr{}, v4.port, "loopback"},
		{"LOCALHOST.:" + p4, "LOCALHOST.", netip.Addr{}, v4.port, "loopback"},
		{"loopy.test:" + p4, "loopy.test", lo4, v4.port, "loopback"},
		{"[::ffff:127.0.0.1]:" + p4, "::ffff:127.0.0.1", netip.MustParseAddr("::ffff:127.0.0.1"), v4.port, "loopback"},
		{"0.0.0.0:" + p4, "0.0.0.0", netip.IPv4Unspecified(), v4.port, "unspecified"},
		{"[::1]:" + p6, "::1", lo6, v6.port, "loopback"},
		{"[::]:" + p6, "::", netip.IPv6Unspecified(), v6.port, "unspecified"},
		{"[::1%lo]:" + p6, "::1%lo", lo6.WithZone("lo"), v6.port, "zone"},
		{"[64:ff9b::7f00:1]:" + p4, "64:ff9b::7f00:1", netip.MustParseAddr("64:ff9b::7f00:1"), v4.port, "ipv4-embedded"},
		{"[::127.0.0.1]:" + p4, "::127.0.0.1", netip.MustParseAddr("::127.0.0.1"), v4.port, "loopback"},
	} {
		t.Run(c.dest, func(t *testing.T) {
			conn, err := d.DialTCP(ctx, "buyer-7", c.dest)
			if conn != nil {
				conn.Close()
				t.Fatalf("dial %s succeeded", c.dest)
			}
			ip := c.ip
			var de *DeniedError
			if errors.As(err, &de) && !ip.IsValid() && (de.IP == lo4 || de.IP == lo6) {
				ip = de.IP
			}
			de = wantDenied(t, err, c.host, ip, c.port, c.rule)
			if !strings.Contains(de.Error(), "("+c.rule+")") {
				t.Errorf("message %q does not name the rule", de.Error())
			}
			want := map[string]string{"buyer": "buyer-7", "host": c.host, "ip": ip.String(), "port": strconv.Itoa(int(c.port)), "rule": c.rule}
			if len(capture.find(slog.LevelWarn, want)) == 0 {
				t.Errorf("no Warn record with %v in %v", want, capture.all())
			}
			v4.assertNoAccept(t)
			v6.assertNoAccept(t)
		})
	}
	if got := connects.get(); len(got) != 0 {
		t.Fatalf("denied dials attempted connects to %v", got)
	}

	// The listeners work: allowed dials reach them, and are the first
	// connections they accept.
	allowed, _, _ := newTestDialer(t, Config{Allow: []string{"127.0.0.1:" + p4, "[::1]:" + p6}}, res)
	for _, tg := range []struct {
		t    *target
		dest string
	}{{v4, "127.0.0.1:" + p4}, {v6, "[::1]:" + p6}} {
		c, err := allowed.DialTCP(ctx, "buyer-7", tg.dest)
		if err != nil {
			t.Fatal(err)
		}
		tg.t.expectFirst(t, c).Close()
		c.Close()
	}
}

func TestDialAllowedByIPEntry(t *testing.T) {
	tg := newTarget(t, "tcp4", "127.0.0.1:0")
	entry := "127.0.0.1:" + port(tg.port)
	d, capture, _ := newTestDialer(t, Config{Allow: []string{entry}}, nil)
	c, err := d.DialTCP(context.Background(), "buyer-1", entry)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var nc net.Conn = c
	if _, ok := nc.(*net.TCPConn); !ok {
		t.Fatalf("conn is %T, want *net.TCPConn", nc)
	}
	peer := tg.expectFirst(t, c)
	defer peer.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	want := map[string]string{"buyer": "buyer-1", "host": "127.0.0.1", "ip": "127.0.0.1", "port": port(tg.port), "rule": "allow-entry " + entry}
	if len(capture.find(slog.LevelInfo, want)) != 1 {
		t.Fatalf("want one Info record with %v, got %v", want, capture.all())
	}

	// The entry names one port only.
	other := newTarget(t, "tcp4", "127.0.0.1:0")
	_, err = d.DialTCP(context.Background(), "buyer-1", "127.0.0.1:"+port(other.port))
	wantDenied(t, err, "127.0.0.1", lo4, other.port, "loopback")
	other.assertNoAccept(t)
}

// TestDialAllowedByHostEntry resolves a name through a real DNS server on
// loopback; the HOST entry allows whatever that name resolves to, and
// only for clients that asked for that name.
func TestDialAllowedByHostEntry(t *testing.T) {
	tg := newTarget(t, "tcp4", "127.0.0.1:0")
	p := port(tg.port)
	res := startDNS(t, map[string][]netip.Addr{
		"origin.test": {lo4},
		"loopy.test":  {lo4},
	})
	d, capture, _ := newTestDialer(t, Config{Allow: []string{"Origin.Test:" + p}}, res)
	ctx := context.Background()
	for _, dest := range []string{"origin.test:" + p, "ORIGIN.TEST.:" + p} {
		c, err := d.DialTCP(ctx, "buyer-2", dest)
		if err != nil {
			t.Fatalf("dial %s: %v", dest, err)
		}
		tg.expectFirst(t, c).Close()
		c.Close()
	}
	if n := len(capture.find(slog.LevelInfo, map[string]string{"rule": "allow-entry origin.test:" + p, "ip": "127.0.0.1"})); n != 2 {
		t.Fatalf("%d Info records for the entry, want 2: %v", n, capture.all())
	}
	_, err := d.DialTCP(ctx, "buyer-2", "loopy.test:"+p)
	wantDenied(t, err, "loopy.test", lo4, tg.port, "loopback")
	_, err = d.DialTCP(ctx, "buyer-2", "127.0.0.1:"+p)
	wantDenied(t, err, "127.0.0.1", lo4, tg.port, "loopback")
	tg.assertNoAccept(t)

	// A name the DNS server does not know is an error, not a denial.
	_, err = d.DialTCP(ctx, "buyer-2", "unknown.test:"+p)
	var de *DeniedError
	if err == nil || errors.As(err, &de) {
		t.Fatalf("unknown name: %v", err)
	}
}

// TestDialPrivateNameNeverAttempted resolves a name to a private address
// that is not ours: the dial is denied without any connect attempt.
func TestDialPrivateNameNeverAttempted(t *testing.T) {
	tg := newTarget(t, "tcp4", "127.0.0.1:0")
	private := netip.MustParseAddr("192.168.1.10")
	res := startDNS(t, map[string][]netip.Addr{
		"intranet.test": {private},
		"mixed.test":    {private, lo4},
	})
	d, capture, connects := newTestDialer(t, Config{Allow: []string{"127.0.0.1:" + port(tg.port)}}, res)
	_, err := d.DialTCP(context.Background(), "buyer-3", "intranet.test:80")
	de := wantDenied(t, err, "intranet.test", private, 80, "private")
	if got, want := de.Error(), "egress denied: intranet.test:80 via 192.168.1.10 (private)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if got := connects.get(); len(got) != 0 {
		t.Fatalf("connect attempted to %v", got)
	}
	if len(capture.find(slog.LevelWarn, map[string]string{"buyer": "buyer-3", "host": "intranet.test", "ip": "192.168.1.10", "port": "80", "rule": "private"})) != 1 {
		t.Fatalf("denial not logged: %v", capture.all())
	}

	// With a private and an allowed candidate, only the allowed one is
	// dialed.
	c, err := d.DialTCP(context.Background(), "buyer-3", "mixed.test:"+port(tg.port))
	if err != nil {
		t.Fatal(err)
	}
	tg.expectFirst(t, c).Close()
	c.Close()
	if got := connects.get(); len(got) != 1 || got[0] != netip.AddrPortFrom(lo4, tg.port) {
		t.Fatalf("connect attempts %v, want only 127.0.0.1:%d", got, tg.port)
	}
}

// listenBothLoopbacks finds a port p with 127.0.0.1:p listening and
// [::1]:p free (a listener there was opened and closed again).
func listenBothLoopbacks(t *testing.T) *target {
	t.Helper()
	for range 20 {
		l6, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l6.Addr().(*net.TCPAddr).Port
		l4, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
		l6.Close()
		if err == nil {
			return serveTarget(t, l4)
		}
	}
	t.Fatal("no port free on both loopbacks")
	return nil
}

func TestDialFallsBackToNextCandidate(t *testing.T) {
	tg := listenBothLoopbacks(t)
	p := port(tg.port)
	res := startDNS(t, map[string][]netip.Addr{"both.test": {lo6, lo4}})
	d, _, connects := newTestDialer(t, Config{Allow: []string{"both.test:" + p}}, res)
	c, err := d.DialTCP(context.Background(), "buyer-4", "both.test:"+p)
	if err != nil {
		t.Fatal(err)
	}
	tg.expectFirst(t, c).Close()
	c.Close()
	got := connects.get()
	if len(got) != 2 || got[0].Addr() != lo6 || got[1].Addr() != lo4 {
		t.Fatalf("connect attempts %v, want ::1 then 127.0.0.1", got)
	}

	// When every allowed candidate fails, the dial error is returned.
	tg.l.Close()
	_, err = d.DialTCP(context.Background(), "buyer-4", "both.test:"+p)
	var de *DeniedError
	if err == nil || errors.As(err, &de) {
		t.Fatalf("dial with nothing listening: %v", err)
	}
}

// TestControlHookRechecks changes the policy between the check and the
// connect: the Control hook refuses the connect and nothing reaches the
// listener.
func TestControlHookRechecks(t *testing.T) {
	tg := newTarget(t, "tcp4", "127.0.0.1:0")
	dest := "127.0.0.1:" + port(tg.port)
	d, capture, _ := newTestDialer(t, Config{Allow: []string{"127.0.0.1:*"}}, nil)
	d.beforeConnect = func(netip.AddrPort) { d.Policy.SetNodePorts([]uint16{tg.port}) }
	_, err := d.DialTCP(context.Background(), "buyer-5", dest)
	wantDenied(t, err, "127.0.0.1", lo4, tg.port, "node-port")
	tg.assertNoAccept(t)
	found := false
	for _, r := range capture.find(slog.LevelWarn, map[string]string{"buyer": "buyer-5", "rule": "node-port"}) {
		found = found || r.msg == "egress denied at connect"
	}
	if !found {
		t.Fatalf("connect-time denial not logged: %v", capture.all())
	}

	d.beforeConnect = nil
	d.Policy.SetNodePorts(nil)
	c, err := d.DialTCP(context.Background(), "buyer-5", dest)
	if err != nil {
		t.Fatal(err)
	}
	tg.expectFirst(t, c).Close()
	c.Close()

	// The hook itself: another address than the checked one, or an
	// unparsable one, is refused.
	ctl := d.control("buyer-5", "", netip.AddrPortFrom(lo4, 443))
	if err := ctl("tcp4", "127.0.0.1:443", nil); err != nil {
		t.Fatalf("control on the checked address: %v", err)
	}
	if err := ctl("tcp6", "[::ffff:127.0.0.1]:443", nil); err != nil {
		t.Fatalf("control on the mapped checked address: %v", err)
	}
	for addr, rule := range map[string]string{
		"127.0.0.2:443": "address-changed",
		"127.0.0.1:444": "address-changed",
		"garbage":       "invalid-address",
	} {
		var de *DeniedError
		if err := ctl("tcp4", addr, nil); !errors.As(err, &de) || de.Rule != rule {
			t.Errorf("control(%q) = %v, want rule %q", addr, err, rule)
		}
	}
	strict, _, _ := newTestDialer(t, Config{}, nil)
	denying := strict.control("buyer-5", "", netip.AddrPortFrom(lo4, 25))
	var de *DeniedError
	if err := denying("tcp4", "127.0.0.1:25", nil); !errors.As(err, &de) || de.Rule != "loopback" {
		t.Errorf("control on a denied address = %v", err)
	}
}

func TestDialChecked(t *testing.T) {
	tg := newTarget(t, "tcp4", "127.0.0.1:0")
	d, capture, connects := newTestDialer(t, Config{Allow: []string{"origin.test:" + port(tg.port)}}, nil)
	c, err := d.DialChecked(context.Background(), "buyer-6", "origin.test", lo4, tg.port)
	if err != nil {
		t.Fatal(err)
	}
	tg.expectFirst(t, c).Close()
	c.Close()
	_, err = d.DialChecked(context.Background(), "buyer-6", "other.test", lo4, tg.port)
	wantDenied(t, err, "other.test", lo4, tg.port, "loopback")
	tg.assertNoAccept(t)
	if n := len(connects.get()); n != 1 {
		t.Fatalf("%d connect attempts, want 1", n)
	}
	if len(capture.find(slog.LevelWarn, map[string]string{"host": "other.test", "rule": "loopback"})) != 1 {
		t.Fatalf("denial not logged: %v", capture.all())
	}
}

func TestDialErrors(t *testing.T) {
	tg := newTarget(t, "tcp4", "127.0.0.1:0")
	d, _, connects := newTestDialer(t, Config{Allow: []string{"127.0.0.1:*"}}, startDNS(t, nil))
	ctx := context.Background()
	for _, dest := range []string{"nohostport", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:", ":80", "127.0.0.1:-1", "nx.test:80"} {
		_, err := d.DialTCP(ctx, "b", dest)
		var de *DeniedError
		if err == nil || errors.As(err, &de) {
			t.Errorf("DialTCP(%q) = %v, want a plain error", dest, err)
		}
	}
	_, err := d.DialTCP(ctx, "b", "127.0.0.1:0")
	wantDenied(t, err, "127.0.0.1", lo4, 0, "port-denied")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.DialTCP(cancelled, "b", "127.0.0.1:"+port(tg.port)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled dial: %v", err)
	}

	nilPolicy := Dialer{Logger: slog.New(slog.DiscardHandler)}
	_, err = nilPolicy.DialTCP(ctx, "b", "127.0.0.1:"+port(tg.port))
	wantDenied(t, err, "127.0.0.1", lo4, tg.port, "no-policy")
	if _, err := nilPolicy.DialChecked(ctx, "b", "", lo4, tg.port); err == nil {
		t.Error("nil policy dialed")
	}
	tg.assertNoAccept(t)
	if got := connects.get(); len(got) != 0 {
		t.Fatalf("connect attempts %v", got)
	}
}

// fakeResolver answers from a map without any network.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestResolve(t *testing.T) {
	d := &Dialer{Resolver: fakeResolver{
		"mapped.test": {netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("192.0.2.1"), lo6, {}},
		"empty.test":  {},
	}}
	ctx := context.Background()
	for host, want := range map[string][]netip.Addr{
		"127.0.0.1":        {lo4},
		"::ffff:127.0.0.1": {netip.MustParseAddr("::ffff:127.0.0.1")},
		"fe80::1%eth0":     {netip.MustParseAddr("fe80::1%eth0")},
		"mapped.test":      {netip.MustParseAddr("192.0.2.1"), lo6},
	} {
		got, err := d.Resolve(ctx, host)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", host, err)
		}
		if len(got) != len(want) {
			t.Fatalf("Resolve(%q) = %v, want %v", host, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("Resolve(%q) = %v, want %v", host, got, want)
			}
		}
	}
	for _, host := range []string{"", "empty.test", "missing.test"} {
		if got, err := d.Resolve(ctx, host); err == nil {
			t.Errorf("Resolve(%q) = %v, want an error", host, got)
		}
	}
	// Through the real DNS server on loopback.
	real := &Dialer{Resolver: startDNS(t, map[string][]netip.Addr{"v46.test": {lo4, lo6}})}
	got, err := real.Resolve(ctx, "v46.test")
	if err != nil || len(got) != 2 {
		t.Fatalf("Resolve(v46.test) = %v, %v", got, err)
	}
	for _, a := range got {
		if a.Is4In6() || (a != lo4 && a != lo6) {
			t.Fatalf("Resolve(v46.test) = %v", got)
		}
	}
}

func TestLogDecision(t *testing.T) {
	log, capture := newCapture()
	d := &Dialer{Logger: log}
	d.LogDecision("b1", "h.test", lo4, 80, Decision{Rule: "loopback"})
	d.LogDecision("b2", "h.test", lo4, 80, Decision{Allowed: true, Rule: "allow-entry h.test:80"})
	d.LogDecision("b3", "h.test", netip.MustParseAddr("8.8.8.8"), 80, Decision{Allowed: true, Rule: "default-allow"})
	recs := capture.all()
	if len(recs) != 3 || recs[0].level != slog.LevelWarn || recs[1].level != slog.LevelInfo || recs[2].level != slog.LevelDebug {
		t.Fatalf("records %v", recs)
	}
	for _, k := range []string{"buyer", "host", "ip", "port", "rule"} {
		if recs[0].attrs[k] == "" {
			t.Fatalf("record lacks %q: %v", k, recs[0])
		}
	}
	// A nil Logger falls back to slog.Default without panicking.
	(&Dialer{}).LogDecision("b", "", netip.Addr{}, 0, Decision{Allowed: true, Rule: "default-allow"})
}
