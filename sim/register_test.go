//go:build cgo

package sim_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/sim"
)

// TestRegisterSIMThroughPCSC reads an emulated USIM through pcscd and vpcd
// and registers it on a ledger served over HTTP in this process, as
// `x402 init --pcsc READER --commitment-key K --ledger URL` does: the first
// key binds the SIM, a second key with the same card is refused ("already
// bound"), and a signed transfer moves the binding to the second key.
func TestRegisterSIMThroughPCSC(t *testing.T) {
	port := sim.StartPCSCDForTest(t)
	sim.InsertCardForTest(t, port, 0, sim.EmulatedUSIM())

	var fee pay.Account
	fee[0] = 1
	g := ledger.Genesis{Chain: "x402-sim-test", FeePPM: 10, FeeAccount: fee,
		MinChallenge: time.Second, MaxChallenge: time.Hour, RequireSIMForSellers: true}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	srv := httptest.NewServer(ledger.NewHTTPHandler(ledger.NewSequencer(l, nil)))
	t.Cleanup(srv.Close)
	c := ledger.NewHTTPClient(srv.URL)
	br := c.(ledger.BindingReader)
	commitKey := []byte("x402-sim-test-commitment-key")
	d := sim.Domain{ChainID: g.Chain, ShardID: g.Shard}

	// claim reads the card and signs a claim for priv's account.
	claim := func(priv ed25519.PrivateKey) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		id, err := (&sim.PCSCReader{Reader: sim.VPCDReader0}).ReadIdentity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acct := pay.AccountOf(priv.Public().(ed25519.PublicKey))
		cl, err := sim.NewClaim(d, acct[:], id, commitKey, priv)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := cl.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	first, second := newKey(t), newKey(t)
	firstAcct, secondAcct := pay.AccountOf(first.Public().(ed25519.PublicKey)), pay.AccountOf(second.Public().(ed25519.PublicKey))
	ctx := t.Context()
	if _, err := ledger.SubmitBody(ctx, c, g.Domain(), first, ledger.RegisterIdentity{Claim: claim(first)}); err != nil {
		t.Fatal(err)
	}
	com, _ := sim.CommitIMSI(commitKey, "262011106487504")
	b, ok, err := br.Binding(ctx, firstAcct)
	if err != nil || !ok || b.IMSICommitment != com || b.Source != sim.SourcePCSC || !b.SIMAnchored() || b.MCC != "262" || b.MNC != "01" {
		t.Fatalf("binding %+v, %v, %v", b, ok, err)
	}

	_, err = ledger.SubmitBody(ctx, c, g.Domain(), second, ledger.RegisterIdentity{Claim: claim(second)})
	if !errors.Is(err, ledger.ErrRejected) || !strings.Contains(err.Error(), "IMSI commitment "+com.String()+" already bound to account "+firstAcct.String()) {
		t.Fatalf("second key with the same SIM: %v", err)
	}

	// Key rotation: the first account hands the binding to the second.
	if _, err := ledger.SubmitBody(ctx, c, g.Domain(), first, ledger.TransferBinding{To: secondAcct, NewClaim: claim(second)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := br.Binding(ctx, firstAcct); err != nil || ok {
		t.Fatalf("first account after the transfer: bound %v, %v", ok, err)
	}
	if b, ok, err := br.Binding(ctx, secondAcct); err != nil || !ok || b.IMSICommitment != com {
		t.Fatalf("second account after the transfer: %+v, %v, %v", b, ok, err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
