package session

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/pay"
)

// ALPN is the TLS application protocol of the payment session.
const ALPN = "x402-pay/1"

// certificate makes a self-signed certificate whose key is the account key:
// the identity is the key itself, so no CA and no validity window is checked.
func certificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	if len(key) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("session certificate: ed25519 key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	pub := key.Public().(ed25519.PublicKey)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("session certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: pay.AccountOf(pub).String()},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("session certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// peerAccount checks a peer's certificate chain: exactly one self-signed
// certificate with an ed25519 key. The TLS handshake has already proved the
// peer holds that key.
func peerAccount(rawCerts [][]byte) (pay.Account, error) {
	if len(rawCerts) != 1 {
		return pay.Account{}, fmt.Errorf("peer sent %d certificates, want exactly 1", len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return pay.Account{}, fmt.Errorf("peer certificate: %w", err)
	}
	return certAccount(cert)
}

// certAccount returns the ed25519 account of a self-signed certificate.
func certAccount(cert *x509.Certificate) (pay.Account, error) {
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return pay.Account{}, fmt.Errorf("peer certificate key is %T, want ed25519", cert.PublicKey)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return pay.Account{}, fmt.Errorf("peer certificate is not self-signed by its key: %w", err)
	}
	return pay.AccountOf(pub), nil
}

// checkALPN refuses a connection that did not negotiate the session protocol.
func checkALPN(cs tls.ConnectionState) error {
	if cs.NegotiatedProtocol != ALPN {
		return fmt.Errorf("negotiated application protocol %q, want %q", cs.NegotiatedProtocol, ALPN)
	}
	return nil
}

// serverTLS is the seller's TLS configuration: its own certificate, TLS 1.3
// only, and any client certificate that is a valid ed25519 self-signed one.
func serverTLS(key ed25519.PrivateKey) (*tls.Config, error) {
	cert, err := certificate(key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{ALPN},
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			_, err := peerAccount(rawCerts)
			return err
		},
		VerifyConnection: checkALPN,
	}, nil
}

// clientTLS is the buyer's TLS configuration: its own certificate, and a
// seller certificate that must carry exactly the seller's account. Chain
// verification is replaced (not skipped) by that check.
func clientTLS(key ed25519.PrivateKey, seller pay.Account) (*tls.Config, error) {
	cert, err := certificate(key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{ALPN},
		ServerName:         "x402-pay",
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate: the key is the identity
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			got, err := peerAccount(rawCerts)
			if err != nil {
				return err
			}
			if got != seller {
				return fmt.Errorf("seller presented %s, want %s: %w", got, seller, ErrPeerMismatch)
			}
			return nil
		},
		VerifyConnection: checkALPN,
	}, nil
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
	a, err := certAccount(cs.PeerCertificates[0])
	if err != nil {
		return pay.Account{}, fmt.Errorf("account from connection: %w", err)
	}
	return a, nil
}
