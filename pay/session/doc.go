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
//
// The buyer may also ask the seller to co-sign an immediate close of the
// channel on the ledger. A CoopCloseRequest frame (type 8) carries the
// buyer's final signed voucher; the seller checks its channel and signature
// as for any voucher and answers with a CoopCloseConsent frame (type 9)
// carrying its 64-byte ed25519 signature on the close, or refuses with an
// Error frame of CodeCoopRefused (always, if its SellerHandler is no
// CoopCloser). The seller answers vouchers and cooperative close requests in
// the order they came, and a refusal of either leaves the session open.
// These two frames came later within protocol version 1: a seller never
// sends a consent unasked, and a seller that predates them ends the session
// on a request as on any unknown frame type (CodeProtocol).
package session
