// Package proxy owns the appliance's two front ends for buyers' traffic: a
// SOCKS5 proxy built on github.com/armon/go-socks5 and an HTTP/CONNECT proxy
// built on github.com/elazarl/goproxy. Both require credentials that map to a
// buyer, dial only what the egress policy (package proxy/egress) allows, obey
// the same connection limits, and relay TCP with Linux splice(2) in metered
// chunks, asking the meter's credit gate before each chunk.
//
// The gaps of go-socks5 (no deadlines, no shutdown, a panic on non-TCP dial
// results, a relay that can neither be metered nor spliced) are closed around
// it: this package owns the accept loop, sets handshake deadlines, bounds the
// library's reads to the handshake so no client byte is buffered away, and
// takes the connection over once the library has parsed the request.
package proxy
