package quicnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrPeerMismatch is returned when a peer proves a key other than the one
// expected.
var ErrPeerMismatch = errors.New("peer presented an unexpected key")

// Certificate makes a self-signed certificate whose key is key: the identity
// is the key itself.
func Certificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	if len(key) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("certificate: ed25519 key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	pub := key.Public().(ed25519.PublicKey)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hex.EncodeToString(pub)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// PeerKey checks a peer's certificate chain — exactly one certificate,
// self-signed by its ed25519 key — and returns that key. The TLS handshake
// has already proved the peer holds it.
func PeerKey(rawCerts [][]byte) (ed25519.PublicKey, error) {
	if len(rawCerts) != 1 {
		return nil, fmt.Errorf("peer sent %d certificates, want exactly 1", len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	return CertKey(cert)
}

// CertKey returns the ed25519 key of a self-signed certificate.
func CertKey(cert *x509.Certificate) (ed25519.PublicKey, error) {
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("peer certificate key is %T, want ed25519", cert.PublicKey)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("peer certificate is not self-signed by its key: %w", err)
	}
	return pub, nil
}

// ConnKey returns the peer key of an established TLS connection.
func ConnKey(cs tls.ConnectionState) (ed25519.PublicKey, error) {
	if len(cs.PeerCertificates) != 1 {
		return nil, fmt.Errorf("%d peer certificates, want 1", len(cs.PeerCertificates))
	}
	return CertKey(cs.PeerCertificates[0])
}

func checkALPN(alpn string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if cs.NegotiatedProtocol != alpn {
			return fmt.Errorf("negotiated application protocol %q, want %q", cs.NegotiatedProtocol, alpn)
		}
		return nil
	}
}

// ServerTLS is a server's configuration: its own certificate, TLS 1.3 only,
// ALPN alpn, and a required client certificate that is a valid self-signed
// ed25519 one and that admit (if not nil) accepts.
func ServerTLS(key ed25519.PrivateKey, alpn string, admit func(ed25519.PublicKey) error) (*tls.Config, error) {
	cert, err := Certificate(key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{alpn},
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			pub, err := PeerKey(rawCerts)
			if err == nil && admit != nil {
				err = admit(pub)
			}
			return err
		},
		VerifyConnection: checkALPN(alpn),
	}, nil
}

// ClientTLS is a client's configuration: its own certificate, and a server
// certificate that must carry exactly the key want. Chain verification is
// replaced (not skipped) by that check.
func ClientTLS(key ed25519.PrivateKey, alpn string, want ed25519.PublicKey) (*tls.Config, error) {
	cert, err := Certificate(key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{alpn},
		ServerName:         alpn,
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate: the key is the identity
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			got, err := PeerKey(rawCerts)
			if err != nil {
				return err
			}
			if !got.Equal(want) {
				return fmt.Errorf("peer presented key %x, want %x: %w", got[:8], want[:8], ErrPeerMismatch)
			}
			return nil
		},
		VerifyConnection: checkALPN(alpn),
	}, nil
}
