package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"time"
)

// origin is the demo's destination web server: plain HTTP and HTTPS on
// loopback, serving deterministic payloads of any size at /bytes/N.
type origin struct {
	plain, tls net.Listener
	servers    []*http.Server
	roots      *x509.CertPool // trusts the HTTPS side's self-signed certificate
}

func startOrigin() (*origin, error) {
	cert, roots, err := selfSignedLoopbackCert()
	if err != nil {
		return nil, fmt.Errorf("origin certificate: %w", err)
	}
	o := &origin{roots: roots}
	if o.plain, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	if o.tls, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		o.plain.Close()
		return nil, fmt.Errorf("origin: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 64<<30 {
			http.Error(w, "size must be 0..64GiB", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(&payloadReader{}, n))
	})
	for _, l := range []net.Listener{o.plain, tls.NewListener(o.tls, &tls.Config{Certificates: []tls.Certificate{cert}})} {
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		o.servers = append(o.servers, srv)
		go srv.Serve(l)
	}
	return o, nil
}

func (o *origin) plainURL() string { return "http://" + o.plain.Addr().String() }
func (o *origin) tlsURL() string   { return "https://" + o.tls.Addr().String() }

func (o *origin) close() {
	for _, s := range o.servers {
		s.Close()
	}
}

// payloadReader yields the demo's deterministic payload: byte i is i mod 251.
type payloadReader struct{ off int64 }

func (p *payloadReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// selfSignedLoopbackCert makes a short-lived certificate for 127.0.0.1 and
// ::1 and a pool that trusts it.
func selfSignedLoopbackCert() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "x402 demo origin"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
