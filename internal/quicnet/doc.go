// Package quicnet owns QUIC links between peers identified by ed25519 keys:
// TLS 1.3 configurations whose self-signed certificate key IS the peer's
// identity (no CA, the key is checked instead of a chain), and endpoints
// that own their UDP socket and QUIC transport and close them synchronously,
// so no transport goroutine outlives its owner. The payment session and the
// consensus transport are built on it.
package quicnet
