package egress

import "net/netip"

// Rule names reported in [Decision.Rule] and [DeniedError.Rule].
const (
	RuleLoopback       = "loopback"
	RulePrivate        = "private"
	RuleLinkLocal      = "link-local"
	RuleSiteLocal      = "site-local"
	RuleCGNAT          = "cgnat"
	RuleMulticast      = "multicast"
	RuleUnspecified    = "unspecified"
	RuleBroadcast      = "broadcast"
	RuleDocumentation  = "documentation"
	RuleBenchmark      = "benchmark"
	RuleReserved       = "reserved"
	RuleDiscard        = "discard"
	RuleULA            = "ula"
	RuleIPv4Embedded   = "ipv4-embedded"
	RuleNodeAddress    = "node-address"
	RuleNodePort       = "node-port"
	RuleZone           = "zone"
	RuleInvalidAddress = "invalid-address"
	RulePortDenied     = "port-denied"
	RulePortNotAllowed = "port-not-allowed"
	RuleDefaultAllow   = "default-allow"
	RuleDefaultDeny    = "default-deny"
	RuleNoPolicy       = "no-policy"
	RuleAddressChanged = "address-changed"
	// RuleAllowEntryPrefix starts the rule of a decision made by an allow
	// entry; the entry follows, e.g. "allow-entry 127.0.0.1:8080".
	RuleAllowEntryPrefix = "allow-entry "
)

type prefixRule struct {
	prefix netip.Prefix
	rule   string
}

func table(pairs ...string) []prefixRule {
	out := make([]prefixRule, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, prefixRule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// v4Rules are checked in order; the first containing prefix decides.
var v4Rules = table(
	"0.0.0.0/8", RuleUnspecified,
	"10.0.0.0/8", RulePrivate,
	"100.64.0.0/10", RuleCGNAT,
	"127.0.0.0/8", RuleLoopback,
	"169.254.0.0/16", RuleLinkLocal,
	"172.16.0.0/12", RulePrivate,
	"192.0.0.0/24", RuleReserved, // IETF protocol assignments
	"192.0.2.0/24", RuleDocumentation, // TEST-NET-1
	"192.88.99.0/24", RuleReserved, // deprecated 6to4 relay anycast
	"192.168.0.0/16", RulePrivate,
	"198.18.0.0/15", RuleBenchmark,
	"198.51.100.0/24", RuleDocumentation, // TEST-NET-2
	"203.0.113.0/24", RuleDocumentation, // TEST-NET-3
	"224.0.0.0/4", RuleMulticast,
	"255.255.255.255/32", RuleBroadcast, // before 240/4, which contains it
	"240.0.0.0/4", RuleReserved,
)

// v6Rules are checked in order after ::/128, ::1 and the IPv4-compatible
// ::/96 have been handled; the first containing prefix decides.
var v6Rules = table(
	"64:ff9b::/96", RuleIPv4Embedded, // NAT64 well-known prefix
	"64:ff9b:1::/48", RuleIPv4Embedded, // NAT64 local use
	"::ffff:0:0:0/96", RuleIPv4Embedded, // SIIT IPv4-translated
	"2002::/16", RuleIPv4Embedded, // 6to4
	"2001::/32", RuleIPv4Embedded, // Teredo
	"100::/64", RuleDiscard,
	"2001:2::/48", RuleBenchmark,
	"2001:db8::/32", RuleDocumentation,
	"3fff::/20", RuleDocumentation,
	"fc00::/7", RuleULA,
	"fe80::/10", RuleLinkLocal,
	"fec0::/10", RuleSiteLocal,
	"ff00::/8", RuleMulticast,
)

// globalUnicast6 is where every global IPv6 allocation lives; anything
// outside it that no rule above names is reserved by the IETF.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

var (
	v6Unspecified = netip.IPv6Unspecified()
	v6Loopback    = netip.IPv6Loopback()
	v4Compatible  = netip.MustParsePrefix("::/96")
)

// embeddedV4 returns the IPv4 address carried by an IPv4-mapped
// (::ffff:0:0/96) or IPv4-compatible (::/96, except :: and ::1) address.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	a = a.WithZone("")
	if a.Is4In6() {
		return a.Unmap(), true
	}
	if a.Is6() && a != v6Unspecified && a != v6Loopback && v4Compatible.Contains(a) {
		b := a.As16()
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	}
	return netip.Addr{}, false
}

// classify returns the address rule that denies a, or "" when no address
// rule applies. a must be valid and carry no zone.
func classify(a netip.Addr) string {
	if v4, ok := embeddedV4(a); ok {
		a = v4
	}
	if a.Is4() {
		for _, r := range v4Rules {
			if r.prefix.Contains(a) {
				return r.rule
			}
		}
		return ""
	}
	switch a {
	case v6Unspecified:
		return RuleUnspecified
	case v6Loopback:
		return RuleLoopback
	}
	for _, r := range v6Rules {
		if r.prefix.Contains(a) {
			return r.rule
		}
	}
	if !globalUnicast6.Contains(a) {
		return RuleReserved
	}
	return ""
}
