package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// allowEntry is one parsed Config.Allow entry. Exactly one of prefix
// (a CIDR, or a single address as a full-length prefix) and name is set.
type allowEntry struct {
	prefix  netip.Prefix
	name    string // lower-case host name without trailing dot
	literal bool   // prefix came from an IP literal, not a CIDR
	port    uint16 // 0 means any port ("*")
	text    string // canonical form, e.g. "[2001:db8::/32]:443"
}

// matches reports whether the entry allows dialing ip (unmapped, no zone)
// on port for a client that asked for host (normalized).
func (e *allowEntry) matches(host string, ip netip.Addr, port uint16) bool {
	if e.port != 0 && e.port != port {
		return false
	}
	if e.name != "" {
		return host == e.name
	}
	return e.prefix.Contains(ip)
}

// parseAllowEntry parses "HOST:PORT", "IP:PORT", "CIDR:PORT",
// "[IPv6]:PORT" or "[IPv6-CIDR]:PORT"; PORT is 1-65535 or "*".
func parseAllowEntry(s string) (*allowEntry, error) {
	e, err := parseEntry(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("allow entry %q: %w", s, err)
	}
	return e, nil
}

func parseEntry(s string) (*allowEntry, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			if strings.Contains(ae.Err, "missing port") {
				return nil, errors.New("missing port")
			}
			if strings.Contains(ae.Err, "too many colons") {
				return nil, errors.New("missing port, or an IPv6 address not in brackets (write [2001:db8::1]:443)")
			}
			return nil, errors.New(ae.Err)
		}
		return nil, err
	}
	e := &allowEntry{}
	switch {
	case portStr == "*":
	case portStr == "":
		return nil, errors.New("missing port")
	default:
		n, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || portStr[0] == '+' {
			return nil, fmt.Errorf("invalid port %q (want 1-65535 or *)", portStr)
		}
		if n == 0 {
			return nil, errors.New("port 0 cannot be dialed (use * for any port)")
		}
		e.port = uint16(n)
	}
	if host == "" {
		return nil, errors.New("missing host")
	}
	if strings.Contains(host, "%") {
		return nil, errors.New("addresses with a zone are always denied and cannot be allowed")
	}
	switch {
	case strings.Contains(host, "/"):
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR %q", host)
		}
		if m := p.Masked(); m != p {
			return nil, fmt.Errorf("CIDR %s has host bits set (did you mean %s?)", p, m)
		}
		if p.Addr().Is4In6() {
			// Masked, so Bits() >= 96: an IPv4-mapped CIDR is an IPv4 CIDR.
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		e.prefix = p
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			a = a.Unmap()
			e.prefix = netip.PrefixFrom(a, a.BitLen())
			e.literal = true
			break
		}
		if strings.Contains(host, ":") {
			return nil, fmt.Errorf("invalid IPv6 address %q", host)
		}
		name, err := normalizeName(host)
		if err != nil {
			return nil, err
		}
		e.name = name
	}
	e.text = e.format()
	return e, nil
}

func (e *allowEntry) format() string {
	var host string
	switch {
	case e.name != "":
		host = e.name
	case e.literal:
		host = e.prefix.Addr().String()
	default:
		host = e.prefix.String()
	}
	port := "*"
	if e.port != 0 {
		port = strconv.Itoa(int(e.port))
	}
	return net.JoinHostPort(host, port)
}

// normalizeName validates a host name of an allow entry and returns it in
// lower case without a trailing dot.
func normalizeName(host string) (string, error) {
	name := normalizeHost(host)
	if name == "" || len(name) > 253 {
		return "", fmt.Errorf("invalid host name %q", host)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("invalid host name %q", host)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("invalid host name %q", host)
			}
		}
	}
	if last := labels[len(labels)-1]; allDigits(last) || isHexNumber(last) {
		// Resolvers may read "127.1" or "2130706433" as an IPv4 address.
		return "", fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return name, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHexNumber(s string) bool {
	if len(s) < 3 || s[0] != '0' || s[1] != 'x' {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// normalizeHost lower-cases a client-supplied host name and drops one
// trailing dot.
func normalizeHost(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}
