package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
)

// Config configures a [Policy].
type Config struct {
	// DefaultDeny denies every destination that no allow entry matches,
	// even a public one (rule "default-deny"). Tests and closed demos use it
	// so that nothing but the allowed destinations can ever be dialed.
	DefaultDeny bool
	// DenyPorts are ports that may not be dialed (rule "port-denied").
	// nil means the default {25} (SMTP); an empty non-nil slice denies no
	// port.
	DenyPorts []uint16
	// AllowPorts, when non-empty, are the only ports that may be dialed
	// (rule "port-not-allowed" for the others).
	AllowPorts []uint16
	// Allow are explicit allow entries, "HOST:PORT" or "CIDR:PORT"
	// (IPv6 in brackets: "[2001:db8::1]:443", "[2001:db8::/32]:443"); PORT
	// is 1-65535 or "*" for any port. They are the only way around the
	// deny rules: a matching entry overrides the address, node-address
	// and port rules. An IP or CIDR entry matches the dialed address; a
	// HOST entry matches when the client asked for that name
	// (case-insensitive, trailing dot ignored), whatever it resolves to.
	Allow []string
}

// Decision is the outcome of [Policy.Check].
type Decision struct {
	Allowed bool
	// Rule names what decided: an address rule such as "loopback",
	// "private", "link-local", "cgnat", "multicast", "unspecified",
	// "broadcast", "documentation", "benchmark", "reserved", "ula",
	// "ipv4-embedded"; "node-address", "node-port", "zone",
	// "invalid-address", "port-denied", "port-not-allowed"; an allow entry
	// ("allow-entry HOST:PORT"); or "default-allow" / "default-deny".
	Rule string
}

// ByAllowEntry reports whether an explicit allow entry made the decision.
func (d Decision) ByAllowEntry() bool {
	return strings.HasPrefix(d.Rule, RuleAllowEntryPrefix)
}

// Policy decides whether an address may be dialed. It is safe for
// concurrent use; the node's addresses and ports can be swapped at any
// time.
type Policy struct {
	defaultDeny bool
	denyPorts   []uint16 // sorted
	allowPorts  []uint16 // sorted; empty: every port
	entries     []*allowEntry

	nodeAddrs atomic.Pointer[[]netip.Addr] // sorted, unmapped, no zones
	nodePorts atomic.Pointer[[]uint16]     // sorted
}

// New checks cfg and returns its policy. Every malformed entry is
// reported, each naming the entry, e.g. `allow entry "foo": missing port`.
func New(cfg Config) (*Policy, error) {
	p := &Policy{defaultDeny: cfg.DefaultDeny}
	var errs []error
	deny := cfg.DenyPorts
	if deny == nil {
		deny = []uint16{25}
	}
	for _, port := range deny {
		if port == 0 {
			errs = append(errs, errors.New("deny ports: 0 is not a port (port 0 is always denied)"))
		}
	}
	for _, port := range cfg.AllowPorts {
		if port == 0 {
			errs = append(errs, errors.New("allow ports: 0 is not a port that can be dialed"))
		}
	}
	p.denyPorts = sortedPorts(deny)
	p.allowPorts = sortedPorts(cfg.AllowPorts)
	for _, s := range cfg.Allow {
		e, err := parseAllowEntry(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.entries = append(p.entries, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func sortedPorts(ports []uint16) []uint16 {
	out := slices.Clone(ports)
	slices.Sort(out)
	return slices.Compact(out)
}

// SetNodeAddrs replaces the node's own interface addresses. Dialing one of
// them is denied (rule "node-address") unless an allow entry matches.
// IPv4-mapped addresses are stored unmapped; zones are dropped.
func (p *Policy) SetNodeAddrs(addrs []netip.Addr) {
	if p == nil {
		return
	}
	set := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			set = append(set, a.Unmap().WithZone(""))
		}
	}
	slices.SortFunc(set, netip.Addr.Compare)
	set = slices.Compact(set)
	p.nodeAddrs.Store(&set)
}

// NodeAddrs returns a copy of the node's addresses as last set.
func (p *Policy) NodeAddrs() []netip.Addr {
	if p == nil {
		return nil
	}
	if s := p.nodeAddrs.Load(); s != nil {
		return slices.Clone(*s)
	}
	return nil
}

// SetNodePorts replaces the ports of the node's own listeners (proxies,
// admin API). Dialing one of them on a loopback, unspecified or node
// address is always denied (rule "node-port"), whatever the allow entries,
// so a buyer can never loop back into the node.
func (p *Policy) SetNodePorts(ports []uint16) {
	if p == nil {
		return
	}
	s := sortedPorts(ports)
	p.nodePorts.Store(&s)
}

// RefreshNodeAddrs reads the node's interface addresses with
// net.InterfaceAddrs and installs them with SetNodeAddrs. On error the
// previous addresses stay in place.
func (p *Policy) RefreshNodeAddrs() error {
	if p == nil {
		return errors.New("egress: nil policy")
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("egress: interface addresses: %w", err)
	}
	addrs := make([]netip.Addr, 0, len(ifaddrs))
	for _, ia := range ifaddrs {
		var ip net.IP
		switch v := ia.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a)
		}
	}
	p.SetNodeAddrs(addrs)
	return nil
}

// Check decides whether ip may be dialed on port. host is the name the
// client asked for ("" or the literal when it asked for an IP address); ip
// is the address that will actually be dialed, and the one that is
// checked.
//
// Invalid addresses, addresses with a zone, port 0 and the node's own
// listener ports on local addresses are always denied. Otherwise a
// matching allow entry allows; then the address rules, the node's own
// addresses and the port rules deny; what remains is allowed, or denied
// when the policy was built with DefaultDeny.
func (p *Policy) Check(host string, ip netip.Addr, port uint16) Decision {
	switch {
	case p == nil:
		return deny(RuleNoPolicy)
	case !ip.IsValid():
		return deny(RuleInvalidAddress)
	case ip.Zone() != "":
		return deny(RuleZone)
	case port == 0:
		return deny(RulePortDenied)
	}
	a := ip.Unmap()
	if p.isNodePort(a, port) {
		return deny(RuleNodePort)
	}
	if len(p.entries) > 0 {
		h := normalizeHost(host)
		for _, e := range p.entries {
			if e.matches(h, a, port) {
				return Decision{Allowed: true, Rule: RuleAllowEntryPrefix + e.text}
			}
		}
	}
	if rule := classify(a); rule != "" {
		return deny(rule)
	}
	if p.isNodeAddr(a) {
		return deny(RuleNodeAddress)
	}
	if _, found := slices.BinarySearch(p.denyPorts, port); found {
		return deny(RulePortDenied)
	}
	if len(p.allowPorts) > 0 {
		if _, found := slices.BinarySearch(p.allowPorts, port); !found {
			return deny(RulePortNotAllowed)
		}
	}
	if p.defaultDeny {
		return deny(RuleDefaultDeny)
	}
	return Decision{Allowed: true, Rule: RuleDefaultAllow}
}

func deny(rule string) Decision { return Decision{Rule: rule} }

// isNodeAddr reports whether a (unmapped, no zone), or the IPv4 address it
// embeds, is one of the node's addresses.
func (p *Policy) isNodeAddr(a netip.Addr) bool {
	s := p.nodeAddrs.Load()
	if s == nil {
		return false
	}
	if _, found := slices.BinarySearchFunc(*s, a, netip.Addr.Compare); found {
		return true
	}
	if v4, ok := embeddedV4(a); ok {
		_, found := slices.BinarySearchFunc(*s, v4, netip.Addr.Compare)
		return found
	}
	return false
}

// isNodePort reports whether port is one of the node's listener ports and
// a is an address on which the node may be listening.
func (p *Policy) isNodePort(a netip.Addr, port uint16) bool {
	s := p.nodePorts.Load()
	if s == nil {
		return false
	}
	if _, found := slices.BinarySearch(*s, port); !found {
		return false
	}
	local := a
	if v4, ok := embeddedV4(a); ok {
		local = v4
	}
	return local.IsLoopback() || local.IsUnspecified() || p.isNodeAddr(a)
}
