// Package session is the live payment link between a buyer agent and a
// seller appliance: one QUIC connection (ALPN "x402-pay/1") per payment
// channel, both ends authenticated by their ed25519 account keys.
//
// Each side presents a self-signed X.509 certificate whose key is its
// account key; the buyer checks that the seller's certificate carries the
// seller account it expects, and the seller learns the buyer's account from
// the client certificate and asks its SellerHandler to admit it to the
// channel.
//
// The control stream carries length-prefixed frames in the canonical wire
// encoding (internal/wire): the buyer's Hello, the seller's Welcome (proxy
// credentials and terms), signed usage statements from the seller, signed
// vouchers from the buyer with their acknowledgements, and an orderly Close.
// Hash-chain ticks, worth a fixed amount each and checked with one SHA-256,
// travel as unreliable QUIC datagrams (RFC 9221): a lost tick is superseded
// by the next one.
package session
