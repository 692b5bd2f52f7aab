package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// DeniedError reports a destination the policy denied.
type DeniedError struct {
	Host string     // the name the client asked for ("" or the literal for an IP)
	IP   netip.Addr // the address that would have been dialed
	Port uint16
	Rule string // the rule that denied it, see [Decision.Rule]
}

// Error gives a plain reason, e.g. "egress denied: 127.0.0.1:8080
// (loopback)" or "egress denied: intranet.test:80 via 192.168.1.10
// (private)".
func (e *DeniedError) Error() string {
	dest := netip.AddrPortFrom(e.IP, e.Port).String()
	if !e.IP.IsValid() {
		dest = net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	} else if e.Host != "" && !sameLiteral(e.Host, e.IP) {
		dest = net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))) + " via " + e.IP.String()
	}
	return "egress denied: " + dest + " (" + e.Rule + ")"
}

func sameLiteral(host string, ip netip.Addr) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a == ip
}

// Resolver looks up a host's addresses. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer dials TCP destinations the policy allows, checking the address
// actually dialed.
type Dialer struct {
	Policy   *Policy       // nil denies everything (rule "no-policy")
	Resolver Resolver      // nil: net.DefaultResolver
	Timeout  time.Duration // connect timeout per address; 0: 10s
	Logger   *slog.Logger  // nil: slog.Default()

	// beforeConnect, when set (tests), runs just before each connect.
	beforeConnect func(netip.AddrPort)
}

// DefaultTimeout is the connect timeout of a Dialer whose Timeout is 0.
const DefaultTimeout = 10 * time.Second

func (d *Dialer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func (d *Dialer) resolver() Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	return net.DefaultResolver
}

func (d *Dialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

// Resolve returns the candidate addresses for host in dial order: an IP
// literal (zones included) is returned as itself; a name is looked up with
// the Resolver, IPv4-mapped results are unmapped and duplicates dropped.
// It does not consult the policy.
func (d *Dialer) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if host == "" {
		return nil, errors.New("egress: empty host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := d.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("egress: %q resolved to no addresses", host)
	}
	return out, nil
}

// check runs the policy on one candidate and logs the decision like
// LogDecision.
func (d *Dialer) check(buyer, host string, ip netip.Addr, port uint16) Decision {
	dec := d.Policy.Check(host, ip, port)
	d.LogDecision(buyer, host, ip, port, dec)
	return dec
}

// LogDecision logs a decision made by [Policy.Check] for callers that check
// without dialing through DialTCP: a denial at Warn, an allow entry's use
// at Info, a default allow at Debug. Every record carries buyer, host, ip,
// port and rule.
func (d *Dialer) LogDecision(buyer, host string, ip netip.Addr, port uint16, dec Decision) {
	attrs := []any{"buyer", buyer, "host", host, "ip", ip.String(), "port", port, "rule", dec.Rule}
	switch {
	case !dec.Allowed:
		d.logger().Warn("egress denied", attrs...)
	case dec.ByAllowEntry():
		d.logger().Info("egress allowed by allow entry", attrs...)
	default:
		d.logger().Debug("egress allowed", attrs...)
	}
}

// DialTCP dials hostport ("host:port", numeric port) for buyer. It resolves
// host unless it is an IP literal, checks every candidate with the policy
// and dials only the allowed ones, in order, moving to the next on failure.
// When no candidate is allowed it returns a *DeniedError for the first
// candidate; when some were allowed but none connected, the last dial
// error. Every decision is logged (see LogDecision). A net.Dialer Control
// hook re-checks the address the socket connects to.
func (d *Dialer) DialTCP(ctx context.Context, buyer, hostport string) (*net.TCPConn, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	port, err := parsePort(portStr)
	if err != nil {
		return nil, fmt.Errorf("egress: %s: %w", hostport, err)
	}
	addrs, err := d.Resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("egress: resolve %q: %w", host, err)
	}
	return d.dialCandidates(ctx, buyer, host, addrs, port)
}

// DialChecked checks ip:port (host as for [Policy.Check]) with the policy,
// logs the decision and dials it if allowed, returning a *DeniedError
// otherwise. Callers that resolved the name themselves use it.
func (d *Dialer) DialChecked(ctx context.Context, buyer, host string, ip netip.Addr, port uint16) (*net.TCPConn, error) {
	return d.dialCandidates(ctx, buyer, host, []netip.Addr{ip}, port)
}

func (d *Dialer) dialCandidates(ctx context.Context, buyer, host string, addrs []netip.Addr, port uint16) (*net.TCPConn, error) {
	var firstDenied *DeniedError
	var dialErr error
	for _, ip := range addrs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dec := d.check(buyer, host, ip, port)
		if !dec.Allowed {
			if firstDenied == nil {
				firstDenied = &DeniedError{Host: host, IP: ip, Port: port, Rule: dec.Rule}
			}
			continue
		}
		c, err := d.connect(ctx, buyer, host, netip.AddrPortFrom(ip.Unmap(), port))
		if err == nil {
			return c, nil
		}
		var de *DeniedError
		if errors.As(err, &de) {
			if firstDenied == nil {
				firstDenied = de
			}
			continue
		}
		dialErr = err
	}
	if dialErr != nil {
		return nil, dialErr
	}
	if firstDenied == nil { // no candidates
		return nil, fmt.Errorf("egress: no address to dial for %q", host)
	}
	return nil, firstDenied
}

// connect dials ap, whose check has passed, with the re-checking Control
// hook.
func (d *Dialer) connect(ctx context.Context, buyer, host string, ap netip.AddrPort) (*net.TCPConn, error) {
	if d.beforeConnect != nil {
		d.beforeConnect(ap)
	}
	nd := net.Dialer{Timeout: d.timeout(), Control: d.control(buyer, host, ap)}
	c, err := nd.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("egress: dial %s: got %T, not a TCP connection", ap, c)
	}
	return tc, nil
}

// control returns the net.Dialer Control hook for a dial of want: it
// re-checks, just before connect(2), the address the socket is about to
// connect to, and refuses any address other than want.
func (d *Dialer) control(buyer, host string, want netip.AddrPort) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		got, err := netip.ParseAddrPort(address)
		if err != nil {
			de := &DeniedError{Host: host, Port: want.Port(), Rule: RuleInvalidAddress}
			d.logger().Warn("egress denied at connect", "buyer", buyer, "host", host, "address", address, "rule", de.Rule)
			return de
		}
		ip := got.Addr()
		if ip.Unmap() != want.Addr().Unmap() || got.Port() != want.Port() {
			de := &DeniedError{Host: host, IP: ip, Port: got.Port(), Rule: RuleAddressChanged}
			d.logger().Warn("egress denied at connect", "buyer", buyer, "host", host, "ip", ip.String(), "port", got.Port(), "rule", de.Rule)
			return de
		}
		dec := d.Policy.Check(host, ip, got.Port())
		if !dec.Allowed {
			d.logger().Warn("egress denied at connect", "buyer", buyer, "host", host, "ip", ip.String(), "port", got.Port(), "rule", dec.Rule)
			return &DeniedError{Host: host, IP: ip, Port: got.Port(), Rule: dec.Rule}
		}
		return nil
	}
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}
