package quicnet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// TestKeysAreTheIdentities: the server admits only a known client key, the
// client accepts only the expected server key, and both learn the other's
// key from the connection.
func TestKeysAreTheIdentities(t *testing.T) {
	server, client, stranger := newKey(t), newKey(t), newKey(t)
	srvTLS, err := ServerTLS(server, "x402-test/1", func(pub ed25519.PublicKey) error {
		if !pub.Equal(pubOf(client)) {
			return fmt.Errorf("unknown client %x", pub[:4])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, ep, err := Listen("127.0.0.1:0", srvTLS, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	accepted := make(chan ed25519.PublicKey, 1)
	go func() {
		c, err := ln.Accept(context.Background())
		if err != nil {
			accepted <- nil
			return
		}
		pub, _ := ConnKey(c.ConnectionState().TLS)
		accepted <- pub
		<-c.Context().Done()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr := ln.Addr().String()

	dial := func(key ed25519.PrivateKey, want ed25519.PublicKey) (*quic.Conn, *Endpoint, error) {
		cliTLS, err := ClientTLS(key, "x402-test/1", want)
		if err != nil {
			t.Fatal(err)
		}
		return Dial(ctx, addr, cliTLS, &quic.Config{})
	}
	if _, _, err := dial(client, pubOf(stranger)); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("client expecting another server key: %v, want ErrPeerMismatch", err)
	}
	// TLS 1.3 lets the client finish before the server checks its
	// certificate: the server's refusal then closes the connection.
	if sc, sep, err := dial(stranger, pubOf(server)); err == nil {
		<-sc.Context().Done()
		sep.Close()
	}
	c, cep, err := dial(client, pubOf(server))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-accepted; !got.Equal(pubOf(client)) {
		t.Fatalf("server saw client key %x", got)
	}
	if got, err := ConnKey(c.ConnectionState().TLS); err != nil || !got.Equal(pubOf(server)) {
		t.Fatalf("client saw server key %x, %v", got, err)
	}
	c.CloseWithError(0, "")
	cep.Close()
	ln.Close()
}

func TestCertificateRejectsAWrongKeySize(t *testing.T) {
	if _, err := Certificate(ed25519.PrivateKey{1, 2, 3}); err == nil {
		t.Fatal("a 3-byte key made a certificate")
	}
	if _, err := PeerKey(nil); err == nil {
		t.Fatal("no certificate accepted")
	}
	if _, err := PeerKey([][]byte{{1, 2}}); err == nil {
		t.Fatal("garbage certificate accepted")
	}
}
