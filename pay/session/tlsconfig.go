package session

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/internal/quicnet"

	"github.com/x402/x402/pay"
)

// ALPN is the TLS application protocol of the payment session.
const ALPN = "x402-pay/1"

// serverTLS is the seller's TLS configuration: its own certificate, TLS 1.3
// only, and any client certificate that is a valid ed25519 self-signed one
// (the handler decides whether that buyer owns the channel).
func serverTLS(key ed25519.PrivateKey) (*tls.Config, error) {
	return quicnet.ServerTLS(key, ALPN, nil)
}

// clientTLS is the buyer's TLS configuration: its own certificate, and a
// seller certificate that must carry exactly the seller's account.
func clientTLS(key ed25519.PrivateKey, seller pay.Account) (*tls.Config, error) {
	return quicnet.ClientTLS(key, ALPN, seller.PublicKey())
}

// AccountFromConn returns the account of the peer of an established
// session connection: the ed25519 key of its certificate.
func AccountFromConn(c *quic.Conn) (pay.Account, error) {
	if c == nil {
		return pay.Account{}, errors.New("account from connection: nil connection")
	}
	return AccountFromTLS(c.ConnectionState().TLS)
}

// AccountFromTLS returns the peer account of a TLS connection state.
func AccountFromTLS(cs tls.ConnectionState) (pay.Account, error) {
	if len(cs.PeerCertificates) != 1 {
		return pay.Account{}, fmt.Errorf("account from connection: %d peer certificates, want 1", len(cs.PeerCertificates))
	}
	pub, err := quicnet.CertKey(cs.PeerCertificates[0])
	if err != nil {
		return pay.Account{}, fmt.Errorf("account from connection: %w", err)
	}
	return pay.AccountOf(pub), nil
}
