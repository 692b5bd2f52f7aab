// Package egress owns the decision of where relayed traffic may go.
//
// The appliance relays strangers' traffic, so it must never become a door
// into its owner's home. A [Policy] decides, for the address that will
// actually be dialed, whether a connection is allowed: loopback, private,
// link-local, CGNAT, multicast, unspecified, broadcast, documentation,
// benchmark and reserved ranges (IPv4, IPv6 and IPv4 embedded in IPv6) are
// denied, and so are the node's own interface addresses, port 0 and the
// denied ports (SMTP, 25, by default). Explicit allow entries from the
// configuration are the only way around these rules; every use of one is
// logged.
//
// A [Dialer] resolves names, checks every candidate address with the policy
// and dials only allowed addresses, so the checked address is the dialed
// address and there is no DNS-rebinding window. A net.Dialer Control hook
// re-checks the address the socket is about to connect to, as defense in
// depth.
package egress
