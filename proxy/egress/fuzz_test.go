package egress

import (
	"net/netip"
	"strings"
	"testing"
)

// fuzzAddr builds an address from fuzz bytes: 4 bytes IPv4, 16 bytes IPv6,
// more than 16 bytes IPv6 with the rest as its zone, anything else the
// zero Addr.
func fuzzAddr(b []byte) netip.Addr {
	switch {
	case len(b) == 4:
		return netip.AddrFrom4([4]byte(b))
	case len(b) == 16:
		return netip.AddrFrom16([16]byte(b))
	case len(b) > 16:
		return netip.AddrFrom16([16]byte(b[:16])).WithZone(string(b[16:]))
	}
	return netip.Addr{}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// mustBeDenied is an oracle independent of the rule tables: addresses
// that must never be dialed without an allow entry.
func mustBeDenied(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return true
	}
	u := ip.Unmap()
	if u.Is6() {
		b := u.As16()
		if [12]byte(b[:12]) == [12]byte{} { // IPv4-compatible, and :: and ::1
			if u == netip.IPv6Loopback() || u == netip.IPv6Unspecified() {
				return true
			}
			u = netip.AddrFrom4([4]byte(b[12:]))
		}
	}
	return u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsMulticast() ||
		u.IsUnspecified() || u.IsInterfaceLocalMulticast() || cgnat.Contains(u) ||
		(u.Is6() && u.As16()[0]&0xe0 != 0x20 && !u.Is4In6())
}

func FuzzCheck(f *testing.F) {
	f.Add("", []byte{127, 0, 0, 1}, uint16(80))
	f.Add("localhost", []byte{127, 0, 0, 1}, uint16(8080))
	f.Add("origin.test", []byte{127, 0, 0, 1}, uint16(443))
	f.Add("ORIGIN.TEST.", []byte{192, 168, 1, 10}, uint16(443))
	f.Add("", []byte{8, 8, 8, 8}, uint16(25))
	f.Add("", []byte{8, 8, 8, 8}, uint16(0))
	f.Add("", netip.MustParseAddr("::ffff:127.0.0.1").AsSlice(), uint16(80))
	f.Add("", netip.MustParseAddr("::127.0.0.1").AsSlice(), uint16(80))
	f.Add("", netip.MustParseAddr("64:ff9b::7f00:1").AsSlice(), uint16(80))
	f.Add("", append(netip.MustParseAddr("fe80::1").AsSlice(), "eth0"...), uint16(80))
	f.Add("x", []byte{1, 2, 3}, uint16(65535))

	plain := mustPolicy(f, Config{})
	node := netip.MustParseAddr("93.184.216.34")
	plain.SetNodeAddrs([]netip.Addr{node})
	entries := []string{"origin.test:443", "127.0.0.1:8080", "[fd00::/8]:*"}
	withEntries := mustPolicy(f, Config{DefaultDeny: true, Allow: entries})
	withEntries.SetNodePorts([]uint16{1080})

	f.Fuzz(func(t *testing.T, host string, ipBytes []byte, port uint16) {
		ip := fuzzAddr(ipBytes)
		d := plain.Check(host, ip, port)
		if d.Rule == "" {
			t.Fatalf("Check(%q, %v, %d): empty rule", host, ip, port)
		}
		if d != plain.Check(host, ip, port) {
			t.Fatal("Check is not deterministic")
		}
		if d != plain.Check("", ip, port) {
			t.Fatalf("host %q changed a decision without allow entries", host)
		}
		if d.Allowed {
			if d.Rule != RuleDefaultAllow {
				t.Fatalf("allowed by %q without allow entries", d.Rule)
			}
			if mustBeDenied(ip) || port == 0 || port == 25 || ip.Unmap() == node {
				t.Fatalf("Check(%q, %v, %d) allowed %+v", host, ip, port, d)
			}
		}
		if ip.Is4() {
			if m := netip.AddrFrom16(ip.As16()); plain.Check(host, m, port) != d {
				t.Fatalf("%v and %v decided differently", ip, m)
			}
		}
		if !d.Allowed {
			msg := (&DeniedError{Host: host, IP: ip, Port: port, Rule: d.Rule}).Error()
			if !strings.HasPrefix(msg, "egress denied: ") || !strings.HasSuffix(msg, "("+d.Rule+")") {
				t.Fatalf("message %q", msg)
			}
		}

		e := withEntries.Check(host, ip, port)
		if e.Allowed != e.ByAllowEntry() {
			t.Fatalf("DefaultDeny policy: %+v", e)
		}
		if e.Allowed {
			u := ip.Unmap()
			ok := false
			switch e.Rule {
			case "allow-entry origin.test:443":
				ok = port == 443 && normalizeHost(host) == "origin.test"
			case "allow-entry 127.0.0.1:8080":
				ok = port == 8080 && u == netip.MustParseAddr("127.0.0.1")
			case "allow-entry [fd00::/8]:*":
				ok = port != 0 && u.Is6() && u.As16()[0] == 0xfd
			}
			if port == 1080 && (u.IsLoopback() || u.IsUnspecified()) {
				ok = false // the node's own port on a local address: never
			}
			if !ok || ip.Zone() != "" {
				t.Fatalf("Check(%q, %v, %d) = %+v", host, ip, port, e)
			}
		}
	})
}

func FuzzNewConfig(f *testing.F) {
	for _, s := range []string{
		"foo", "origin.test:443", "127.0.0.1:8080", "[::1]:*", "10.0.0.0/8:*",
		"[2001:db8::/32]:443", "[::ffff:10.0.0.0/104]:80", "[fe80::1%eth0]:80",
		"2001:db8::1:443", "127.1:80", ":80", "a:0", "ORIGIN.Test.:65535",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		p, err := New(Config{Allow: []string{entry}})
		if err != nil {
			if p != nil {
				t.Fatal("policy and error")
			}
			if want := `allow entry "`; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q does not name the entry", err)
			}
			return
		}
		if len(p.entries) != 1 {
			t.Fatalf("%d entries", len(p.entries))
		}
		e := p.entries[0]
		again, err := parseAllowEntry(e.text)
		if err != nil || *again != *e {
			t.Fatalf("canonical %q of %q does not round-trip: %+v, %v", e.text, entry, again, err)
		}
		port := e.port
		if port == 0 {
			port = 443
		}
		want := Decision{Allowed: true, Rule: "allow-entry " + e.text}
		if e.name != "" {
			for _, h := range []string{e.name, strings.ToUpper(e.name) + "."} {
				if d := p.Check(h, netip.MustParseAddr("127.0.0.1"), port); d != want {
					t.Fatalf("entry %q: Check(%q) = %+v", entry, h, d)
				}
			}
			return
		}
		if d := p.Check("", e.prefix.Addr(), port); d != want {
			t.Fatalf("entry %q: Check(%v) = %+v", entry, e.prefix.Addr(), d)
		}
		if d := p.Check("", e.prefix.Addr(), 0); d.Allowed {
			t.Fatalf("entry %q allowed port 0", entry)
		}
	})
}
