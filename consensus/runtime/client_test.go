package runtime

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/transport"
)

// TestDialRefusesMoreIdentitiesThanOneConnectionCarries: the identities
// share one connection per replica, whose attachment carries at most
// transport.MaxAttach of them; more is a clear error at Dial, not a link
// that never attaches.
func TestDialRefusesMoreIdentitiesThanOneConnectionCarries(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ClientConfig{Domain: pbft.Domain{ChainID: "test"}, Replicas: []ed25519.PublicKey{pub}, Addrs: []string{"127.0.0.1:9"},
		Identities: transport.MaxAttach + 1}
	c, err := Dial(cfg)
	if err == nil {
		c.Close()
		t.Fatal("dialed with more identities than one connection carries")
	}
	if !strings.Contains(err.Error(), "at most 4096") {
		t.Fatalf("error %q does not say the limit", err)
	}
}
