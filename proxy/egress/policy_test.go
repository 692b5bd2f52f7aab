package egress

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func mustPolicy(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

type checkCase struct {
	host    string
	ip      string
	port    uint16
	allowed bool
	rule    string
}

func runChecks(t *testing.T, p *Policy, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		ip, err := netip.ParseAddr(c.ip)
		if c.ip != "" && err != nil {
			t.Fatalf("bad test address %q: %v", c.ip, err)
		}
		got := p.Check(c.host, ip, c.port)
		if got.Allowed != c.allowed || got.Rule != c.rule {
			t.Errorf("Check(%q, %s, %d) = %+v, want {Allowed:%v Rule:%s}", c.host, c.ip, c.port, got, c.allowed, c.rule)
		}
	}
}

func allow(ip string) checkCase {
	return checkCase{ip: ip, port: 443, allowed: true, rule: "default-allow"}
}
func denied(ip, rule string) checkCase {
	return checkCase{ip: ip, port: 443, rule: rule}
}

// TestAddressRules walks every address range, its edges just inside and
// the neighbours just outside, under the default policy.
func TestAddressRules(t *testing.T) {
	p := mustPolicy(t, Config{})
	runChecks(t, p, []checkCase{
		// IPv4
		denied("0.0.0.0", "unspecified"), denied("0.255.255.255", "unspecified"), allow("1.0.0.0"),
		allow("9.255.255.255"), denied("10.0.0.0", "private"), denied("10.255.255.255", "private"), allow("11.0.0.0"),
		allow("100.63.255.255"), denied("100.64.0.0", "cgnat"), denied("100.127.255.255", "cgnat"), allow("100.128.0.0"),
		allow("126.255.255.255"), denied("127.0.0.0", "loopback"), denied("127.0.0.1", "loopback"), denied("127.255.255.255", "loopback"), allow("128.0.0.0"),
		allow("169.253.255.255"), denied("169.254.0.0", "link-local"), denied("169.254.169.254", "link-local"), denied("169.254.255.255", "link-local"), allow("169.255.0.0"),
		allow("172.15.255.255"), denied("172.16.0.0", "private"), denied("172.31.255.255", "private"), allow("172.32.0.0"),
		allow("191.255.255.255"), denied("192.0.0.0", "reserved"), denied("192.0.0.255", "reserved"), allow("192.0.1.0"),
		allow("192.0.1.255"), denied("192.0.2.0", "documentation"), denied("192.0.2.255", "documentation"), allow("192.0.3.0"),
		allow("192.88.98.255"), denied("192.88.99.0", "reserved"), denied("192.88.99.255", "reserved"), allow("192.88.100.0"),
		allow("192.167.255.255"), denied("192.168.0.0", "private"), denied("192.168.1.1", "private"), denied("192.168.255.255", "private"), allow("192.169.0.0"),
		allow("198.17.255.255"), denied("198.18.0.0", "benchmark"), denied("198.19.255.255", "benchmark"), allow("198.20.0.0"),
		allow("198.51.99.255"), denied("198.51.100.0", "documentation"), denied("198.51.100.255", "documentation"), allow("198.51.101.0"),
		allow("203.0.112.255"), denied("203.0.113.0", "documentation"), denied("203.0.113.255", "documentation"), allow("203.0.114.0"),
		allow("223.255.255.255"), denied("224.0.0.0", "multicast"), denied("239.255.255.255", "multicast"),
		denied("240.0.0.0", "reserved"), denied("255.255.255.254", "reserved"), denied("255.255.255.255", "broadcast"),
		allow("8.8.8.8"), allow("1.1.1.1"), allow("93.184.216.34"),

		// IPv6 specials
		denied("::", "unspecified"), denied("::1", "loopback"),
		// IPv4-compatible ::/96: the embedded IPv4 decides.
		denied("::2", "unspecified"), denied("::127.0.0.1", "loopback"), denied("::10.0.0.1", "private"),
		denied("::255.255.255.255", "broadcast"), allow("::8.8.8.8"),
		denied("::1:0:0", "reserved"), // just outside ::/96
		// IPv4-mapped ::ffff:0:0/96: unmapped.
		denied("::ffff:127.0.0.1", "loopback"), denied("::ffff:0.0.0.0", "unspecified"), denied("::ffff:10.1.2.3", "private"),
		denied("::ffff:169.254.169.254", "link-local"), denied("::ffff:100.64.0.1", "cgnat"), denied("::ffff:255.255.255.255", "broadcast"),
		denied("::ffff:224.0.0.1", "multicast"), allow("::ffff:8.8.8.8"), allow("::ffff:1.0.0.0"),
		denied("::fffe:ffff:ffff", "reserved"), // just below the mapped range
		denied("::1:0:0:0", "reserved"),        // just above it
		// IPv4 embedded by translation or tunnelling: denied outright.
		denied("::ffff:0:7f00:1", "ipv4-embedded"),
		denied("64:ff9b::", "ipv4-embedded"), denied("64:ff9b::7f00:1", "ipv4-embedded"), denied("64:ff9b::808:808", "ipv4-embedded"),
		denied("64:ff9b::ffff:ffff", "ipv4-embedded"), denied("64:ff9b::1:0:0", "reserved"),
		denied("64:ff9b:1::", "ipv4-embedded"), denied("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "ipv4-embedded"), denied("64:ff9b:2::", "reserved"),
		allow("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), denied("2002::", "ipv4-embedded"), denied("2002:7f00:1::1", "ipv4-embedded"),
		denied("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ipv4-embedded"), allow("2003::"),
		allow("2000::"), denied("2001::", "ipv4-embedded"), denied("2001:0:4136:e378:8000:63bf:3fff:fdd2", "ipv4-embedded"),
		denied("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "ipv4-embedded"), allow("2001:1::"),
		// Ranges
		denied("100::", "discard"), denied("100::ffff:ffff:ffff:ffff", "discard"), denied("100:0:0:1::", "reserved"),
		allow("2001:1:ffff:ffff:ffff:ffff:ffff:ffff"), denied("2001:2::", "benchmark"), denied("2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmark"), allow("2001:2:1::"),
		allow("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), denied("2001:db8::", "documentation"), denied("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"), allow("2001:db9::"),
		allow("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), denied("3fff::", "documentation"), denied("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"), allow("3fff:1000::"),
		denied("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"), denied("fc00::", "ula"), denied("fd12:3456::1", "ula"), denied("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ula"),
		denied("fe00::", "reserved"), denied("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"),
		denied("fe80::", "link-local"), denied("fe80::1", "link-local"), denied("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"),
		denied("fec0::", "site-local"), denied("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"),
		denied("ff00::", "multicast"), denied("ff02::1", "multicast"), denied("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
		// Outside global unicast 2000::/3.
		denied("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"), denied("4000::", "reserved"), denied("e000::1", "reserved"),
		allow("2606:4700:4700::1111"), allow("3ffe::1"),
		// Zones are always denied.
		denied("fe80::1%eth0", "zone"), denied("2606:4700::1%eth0", "zone"), denied("::1%lo", "zone"),
		// The zero Addr.
		denied("", "invalid-address"),
	})
}

func TestNodeAddresses(t *testing.T) {
	p := mustPolicy(t, Config{Allow: []string{"93.184.216.34:8443"}})
	p.SetNodeAddrs([]netip.Addr{
		netip.MustParseAddr("93.184.216.34"),
		netip.MustParseAddr("2606:2800:220:1:248:1893:25c8:1946"),
		netip.MustParseAddr("::ffff:8.8.4.4"), // stored unmapped
		netip.MustParseAddr("2606:4700::1%eth0"),
		{}, // ignored
	})
	runChecks(t, p, []checkCase{
		denied("93.184.216.34", "node-address"),
		denied("::ffff:93.184.216.34", "node-address"),
		denied("::93.184.216.34", "node-address"),
		denied("2606:2800:220:1:248:1893:25c8:1946", "node-address"),
		denied("8.8.4.4", "node-address"),
		denied("2606:4700::1", "node-address"),
		denied("2606:4700::1%eth0", "zone"),
		allow("93.184.216.35"),
		allow("2606:2800:220:1:248:1893:25c8:1947"),
		{ip: "93.184.216.34", port: 8443, allowed: true, rule: "allow-entry 93.184.216.34:8443"},
		// Private node addresses keep their address rule.
		denied("192.168.1.1", "private"),
	})
	want := []netip.Addr{netip.MustParseAddr("8.8.4.4"), netip.MustParseAddr("93.184.216.34"),
		netip.MustParseAddr("2606:2800:220:1:248:1893:25c8:1946"), netip.MustParseAddr("2606:4700::1")}
	got := p.NodeAddrs()
	if len(got) != len(want) {
		t.Fatalf("NodeAddrs = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("NodeAddrs = %v, want %v", got, want)
		}
	}
	p.SetNodeAddrs(nil)
	runChecks(t, p, []checkCase{allow("93.184.216.34")})
}

func TestRefreshNodeAddrs(t *testing.T) {
	p := mustPolicy(t, Config{})
	if err := p.RefreshNodeAddrs(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range p.NodeAddrs() {
		if a == netip.MustParseAddr("127.0.0.1") {
			found = true
		}
		if a.Zone() != "" || a.Is4In6() {
			t.Errorf("node address %v not normalised", a)
		}
	}
	if !found {
		t.Fatalf("NodeAddrs after refresh = %v, want 127.0.0.1 among them", p.NodeAddrs())
	}
}

func TestNodePorts(t *testing.T) {
	p := mustPolicy(t, Config{Allow: []string{"127.0.0.1:*", "[::1]:*", "0.0.0.0:*", "93.184.216.34:*", "8.8.8.8:1080"}})
	p.SetNodeAddrs([]netip.Addr{netip.MustParseAddr("93.184.216.34")})
	p.SetNodePorts([]uint16{1080, 8080, 1080})
	runChecks(t, p, []checkCase{
		{ip: "127.0.0.1", port: 1080, rule: "node-port"},
		{ip: "127.0.0.2", port: 8080, rule: "node-port"},
		{ip: "::ffff:127.0.0.1", port: 1080, rule: "node-port"},
		{ip: "::1", port: 1080, rule: "node-port"},
		{ip: "0.0.0.0", port: 1080, rule: "node-port"},
		{ip: "::", port: 1080, rule: "node-port"},
		{ip: "93.184.216.34", port: 1080, rule: "node-port"},
		{ip: "127.0.0.1", port: 1081, allowed: true, rule: "allow-entry 127.0.0.1:*"},
		{ip: "93.184.216.34", port: 1081, allowed: true, rule: "allow-entry 93.184.216.34:*"},
		{ip: "8.8.8.8", port: 1080, allowed: true, rule: "allow-entry 8.8.8.8:1080"},
		{ip: "1.1.1.1", port: 1080, allowed: true, rule: "default-allow"},
	})
	p.SetNodePorts(nil)
	runChecks(t, p, []checkCase{{ip: "127.0.0.1", port: 1080, allowed: true, rule: "allow-entry 127.0.0.1:*"}})
}

func TestPortRules(t *testing.T) {
	t.Run("default denies 25", func(t *testing.T) {
		runChecks(t, mustPolicy(t, Config{}), []checkCase{
			{ip: "8.8.8.8", port: 25, rule: "port-denied"},
			{ip: "8.8.8.8", port: 0, rule: "port-denied"},
			{ip: "8.8.8.8", port: 24, allowed: true, rule: "default-allow"},
			{ip: "8.8.8.8", port: 26, allowed: true, rule: "default-allow"},
			{ip: "8.8.8.8", port: 587, allowed: true, rule: "default-allow"},
			{ip: "8.8.8.8", port: 65535, allowed: true, rule: "default-allow"},
			// Address rules are reported before port rules.
			{ip: "127.0.0.1", port: 25, rule: "loopback"},
		})
	})
	t.Run("empty deny list", func(t *testing.T) {
		runChecks(t, mustPolicy(t, Config{DenyPorts: []uint16{}}), []checkCase{
			{ip: "8.8.8.8", port: 25, allowed: true, rule: "default-allow"},
			{ip: "8.8.8.8", port: 0, rule: "port-denied"},
		})
	})
	t.Run("custom deny list", func(t *testing.T) {
		runChecks(t, mustPolicy(t, Config{DenyPorts: []uint16{22, 25, 22}}), []checkCase{
			{ip: "8.8.8.8", port: 22, rule: "port-denied"},
			{ip: "8.8.8.8", port: 25, rule: "port-denied"},
			{ip: "8.8.8.8", port: 23, allowed: true, rule: "default-allow"},
		})
	})
	t.Run("allow ports", func(t *testing.T) {
		runChecks(t, mustPolicy(t, Config{AllowPorts: []uint16{443, 80, 25}}), []checkCase{
			{ip: "8.8.8.8", port: 443, allowed: true, rule: "default-allow"},
			{ip: "8.8.8.8", port: 80, allowed: true, rule: "default-allow"},
			{ip: "8.8.8.8", port: 8080, rule: "port-not-allowed"},
			{ip: "8.8.8.8", port: 444, rule: "port-not-allowed"},
			{ip: "8.8.8.8", port: 25, rule: "port-denied"}, // the deny list wins
			{ip: "8.8.8.8", port: 0, rule: "port-denied"},
		})
	})
	t.Run("allow entries override port rules", func(t *testing.T) {
		p := mustPolicy(t, Config{AllowPorts: []uint16{443}, Allow: []string{"8.8.8.8:25", "1.1.1.1:*", "mail.example:25"}})
		runChecks(t, p, []checkCase{
			{ip: "8.8.8.8", port: 25, allowed: true, rule: "allow-entry 8.8.8.8:25"},
			{ip: "8.8.8.8", port: 8080, rule: "port-not-allowed"},
			{ip: "1.1.1.1", port: 8080, allowed: true, rule: "allow-entry 1.1.1.1:*"},
			{ip: "1.1.1.1", port: 25, allowed: true, rule: "allow-entry 1.1.1.1:*"},
			{ip: "1.1.1.1", port: 0, rule: "port-denied"}, // "*" never means port 0
			{host: "mail.example", ip: "9.9.9.9", port: 25, allowed: true, rule: "allow-entry mail.example:25"},
			{host: "other.example", ip: "9.9.9.9", port: 25, rule: "port-denied"},
		})
	})
}

func TestAllowEntries(t *testing.T) {
	p := mustPolicy(t, Config{Allow: []string{
		"127.0.0.1:8080",
		"[::1]:*",
		"10.0.0.0/8:*",
		"[fd00::/8]:443",
		"[2001:db8::/32]:443",
		"Origin.Test.:8443",
		"[::ffff:172.16.0.0/108]:80", // an IPv4-mapped CIDR is 172.16.0.0/12
		"[::ffff:192.168.7.7]:22",    // an IPv4-mapped literal is 192.168.7.7
		"192.0.2.0/24:*",
	}})
	runChecks(t, p, []checkCase{
		{ip: "127.0.0.1", port: 8080, allowed: true, rule: "allow-entry 127.0.0.1:8080"},
		{host: "127.0.0.1", ip: "127.0.0.1", port: 8080, allowed: true, rule: "allow-entry 127.0.0.1:8080"},
		{host: "localhost", ip: "127.0.0.1", port: 8080, allowed: true, rule: "allow-entry 127.0.0.1:8080"},
		{ip: "::ffff:127.0.0.1", port: 8080, allowed: true, rule: "allow-entry 127.0.0.1:8080"},
		{ip: "127.0.0.1", port: 8081, rule: "loopback"},
		{ip: "127.0.0.2", port: 8080, rule: "loopback"},
		{ip: "::127.0.0.1", port: 8080, rule: "loopback"}, // compatible form is not the entry's address
		{ip: "::1", port: 1, allowed: true, rule: "allow-entry [::1]:*"},
		{ip: "::1", port: 25, allowed: true, rule: "allow-entry [::1]:*"},
		{ip: "::1%lo", port: 80, rule: "zone"},
		{ip: "10.1.2.3", port: 22, allowed: true, rule: "allow-entry 10.0.0.0/8:*"},
		{ip: "::ffff:10.1.2.3", port: 22, allowed: true, rule: "allow-entry 10.0.0.0/8:*"},
		{ip: "11.0.0.1", port: 22, allowed: true, rule: "default-allow"},
		{ip: "fd12::1", port: 443, allowed: true, rule: "allow-entry [fd00::/8]:443"},
		{ip: "fd12::1", port: 80, rule: "ula"},
		{ip: "fc00::1", port: 443, rule: "ula"},
		{ip: "2001:db8:1::1", port: 443, allowed: true, rule: "allow-entry [2001:db8::/32]:443"},
		{ip: "2001:db9::1", port: 443, allowed: true, rule: "default-allow"},
		{ip: "2001:db8::1", port: 80, rule: "documentation"},
		{host: "origin.test", ip: "127.0.0.1", port: 8443, allowed: true, rule: "allow-entry origin.test:8443"},
		{host: "ORIGIN.test.", ip: "192.168.1.10", port: 8443, allowed: true, rule: "allow-entry origin.test:8443"},
		{host: "origin.test", ip: "127.0.0.1", port: 8444, rule: "loopback"},
		{host: "other.test", ip: "127.0.0.1", port: 8443, rule: "loopback"},
		{host: "sub.origin.test", ip: "127.0.0.1", port: 8443, rule: "loopback"},
		{host: "origin.test..", ip: "127.0.0.1", port: 8443, rule: "loopback"},
		{host: "", ip: "127.0.0.1", port: 8443, rule: "loopback"},
		{ip: "172.31.0.1", port: 80, allowed: true, rule: "allow-entry 172.16.0.0/12:80"},
		{ip: "172.31.0.1", port: 81, rule: "private"},
		{ip: "192.168.7.7", port: 22, allowed: true, rule: "allow-entry 192.168.7.7:22"},
		{ip: "192.0.2.99", port: 25, allowed: true, rule: "allow-entry 192.0.2.0/24:*"},
	})
}

func TestDefaultDeny(t *testing.T) {
	p := mustPolicy(t, Config{DefaultDeny: true, Allow: []string{"origin.test:443", "9.9.9.9:53"}})
	runChecks(t, p, []checkCase{
		{ip: "8.8.8.8", port: 443, rule: "default-deny"},
		{ip: "2606:4700:4700::1111", port: 443, rule: "default-deny"},
		{ip: "127.0.0.1", port: 443, rule: "loopback"},
		{ip: "192.168.1.10", port: 80, rule: "private"},
		{ip: "8.8.8.8", port: 25, rule: "port-denied"},
		{host: "origin.test", ip: "8.8.8.8", port: 443, allowed: true, rule: "allow-entry origin.test:443"},
		{ip: "9.9.9.9", port: 53, allowed: true, rule: "allow-entry 9.9.9.9:53"},
	})
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	runChecks(t, p, []checkCase{{ip: "8.8.8.8", port: 443, rule: "no-policy"}})
	p.SetNodeAddrs([]netip.Addr{netip.MustParseAddr("1.2.3.4")})
	p.SetNodePorts([]uint16{1})
	if p.NodeAddrs() != nil || p.RefreshNodeAddrs() == nil {
		t.Fatal("nil policy should hold nothing and refuse to refresh")
	}
}

func TestCanonicalEntries(t *testing.T) {
	for in, want := range map[string]string{
		"ORIGIN.test.:443":           "origin.test:443",
		"[2001:DB8::/32]:*":          "[2001:db8::/32]:*",
		"[::ffff:127.0.0.1]:80":      "127.0.0.1:80",
		"[::ffff:10.0.0.0/104]:80":   "10.0.0.0/8:80",
		"[::ffff:0:0/96]:80":         "0.0.0.0/0:80",
		" 10.0.0.0/8:22 ":            "10.0.0.0/8:22",
		"[1.2.3.4]:80":               "1.2.3.4:80",
		"[2001:db8:0:0:0:0:0:1]:443": "[2001:db8::1]:443",
		"1.2.3.4/32:65535":           "1.2.3.4/32:65535",
		"0.0.0.0/0:443":              "0.0.0.0/0:443",
		"under_score.example:1":      "under_score.example:1",
	} {
		e, err := parseAllowEntry(in)
		if err != nil {
			t.Errorf("parseAllowEntry(%q): %v", in, err)
			continue
		}
		if e.text != want {
			t.Errorf("parseAllowEntry(%q) = %q, want %q", in, e.text, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Allow: []string{"foo"}}, `allow entry "foo": missing port`},
		{Config{Allow: []string{"foo:"}}, `allow entry "foo:": missing port`},
		{Config{Allow: []string{""}}, `allow entry "": empty`},
		{Config{Allow: []string{"   "}}, `allow entry "   ": empty`},
		{Config{Allow: []string{":80"}}, `allow entry ":80": missing host`},
		{Config{Allow: []string{"foo:0"}}, `allow entry "foo:0": port 0 cannot be dialed`},
		{Config{Allow: []string{"foo:65536"}}, `allow entry "foo:65536": invalid port "65536"`},
		{Config{Allow: []string{"foo:http"}}, `allow entry "foo:http": invalid port "http"`},
		{Config{Allow: []string{"foo:+80"}}, `allow entry "foo:+80": invalid port "+80"`},
		{Config{Allow: []string{"foo:-1"}}, `allow entry "foo:-1": invalid port "-1"`},
		{Config{Allow: []string{"foo:**"}}, `allow entry "foo:**": invalid port "**"`},
		{Config{Allow: []string{"2001:db8::1:443"}}, `allow entry "2001:db8::1:443": missing port, or an IPv6 address not in brackets`},
		{Config{Allow: []string{"2001:db8::/32:443"}}, `allow entry "2001:db8::/32:443": missing port, or an IPv6 address not in brackets`},
		{Config{Allow: []string{"[fe80::1%eth0]:80"}}, `allow entry "[fe80::1%eth0]:80": addresses with a zone are always denied`},
		{Config{Allow: []string{"10.1.2.3/8:80"}}, `allow entry "10.1.2.3/8:80": CIDR 10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)`},
		{Config{Allow: []string{"10.0.0.0/33:80"}}, `allow entry "10.0.0.0/33:80": invalid CIDR "10.0.0.0/33"`},
		{Config{Allow: []string{"foo/8:80"}}, `allow entry "foo/8:80": invalid CIDR "foo/8"`},
		{Config{Allow: []string{"[::ffff:0:0/64]:80"}}, `allow entry "[::ffff:0:0/64]:80": CIDR ::ffff:0.0.0.0/64 has host bits set (did you mean ::/64?)`},
		{Config{Allow: []string{"[2001:db8::zz]:80"}}, `allow entry "[2001:db8::zz]:80": invalid IPv6 address "2001:db8::zz"`},
		{Config{Allow: []string{"bad_host!:80"}}, `allow entry "bad_host!:80": invalid host name "bad_host!"`},
		{Config{Allow: []string{"a..b:80"}}, `allow entry "a..b:80": invalid host name "a..b"`},
		{Config{Allow: []string{"*.example.com:443"}}, `allow entry "*.example.com:443": invalid host name "*.example.com"`},
		{Config{Allow: []string{strings.Repeat("a", 64) + ".test:80"}}, `invalid host name`},
		{Config{Allow: []string{"127.1:80"}}, `allow entry "127.1:80": "127.1" is neither an IP address nor a host name`},
		{Config{Allow: []string{"2130706433:80"}}, `is neither an IP address nor a host name`},
		{Config{Allow: []string{"0x7f000001:80"}}, `is neither an IP address nor a host name`},
		{Config{Allow: []string{"[foo:80"}}, `allow entry "[foo:80": missing ']' in address`},
		{Config{DenyPorts: []uint16{25, 0}}, `deny ports: 0 is not a port`},
		{Config{AllowPorts: []uint16{0}}, `allow ports: 0 is not a port`},
	} {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
	// Every malformed entry is reported, not just the first.
	_, err := New(Config{Allow: []string{"good.test:80", "one", "two:x"}})
	if err == nil || !strings.Contains(err.Error(), `"one"`) || !strings.Contains(err.Error(), `"two:x"`) || strings.Contains(err.Error(), "good.test") {
		t.Fatalf("New with two bad entries: %v", err)
	}
}

func TestNewCopiesConfig(t *testing.T) {
	cfg := Config{DenyPorts: []uint16{22}, AllowPorts: []uint16{22, 443}}
	p := mustPolicy(t, cfg)
	cfg.DenyPorts[0] = 443
	cfg.AllowPorts[0] = 8080
	runChecks(t, p, []checkCase{
		{ip: "8.8.8.8", port: 22, rule: "port-denied"},
		{ip: "8.8.8.8", port: 443, allowed: true, rule: "default-allow"},
	})
}

func TestDeniedErrorMessage(t *testing.T) {
	for _, c := range []struct {
		err  DeniedError
		want string
	}{
		{DeniedError{IP: netip.MustParseAddr("127.0.0.1"), Port: 8080, Rule: "loopback"}, "egress denied: 127.0.0.1:8080 (loopback)"},
		{DeniedError{Host: "127.0.0.1", IP: netip.MustParseAddr("127.0.0.1"), Port: 8080, Rule: "loopback"}, "egress denied: 127.0.0.1:8080 (loopback)"},
		{DeniedError{Host: "::1", IP: netip.MustParseAddr("::1"), Port: 80, Rule: "loopback"}, "egress denied: [::1]:80 (loopback)"},
		{DeniedError{Host: "intranet.test", IP: netip.MustParseAddr("192.168.1.10"), Port: 80, Rule: "private"}, "egress denied: intranet.test:80 via 192.168.1.10 (private)"},
		{DeniedError{Host: "x.test", Port: 80, Rule: "invalid-address"}, "egress denied: x.test:80 (invalid-address)"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
	var err error = &DeniedError{Rule: "private"}
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatal("errors.As failed")
	}
}

// TestConcurrentUse runs checks while the node's addresses and ports are
// swapped; the race detector does the asserting.
func TestConcurrentUse(t *testing.T) {
	p := mustPolicy(t, Config{Allow: []string{"127.0.0.1:80"}})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 200 {
				p.SetNodeAddrs([]netip.Addr{netip.AddrFrom4([4]byte{93, 184, byte(i), byte(j)})})
				p.SetNodePorts([]uint16{uint16(j + 1)})
				if j%50 == 0 {
					if err := p.RefreshNodeAddrs(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := range 200 {
				if d := p.Check("", netip.MustParseAddr("127.0.0.1"), uint16(j)); d.Allowed && j != 80 {
					t.Errorf("127.0.0.1:%d allowed: %+v", j, d)
				}
				_ = p.NodeAddrs()
			}
		}()
	}
	wg.Wait()
}
