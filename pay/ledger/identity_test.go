package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/sim"
)

// simKey is the network commitment key of the tests (never on the ledger).
var simKey = []byte("x402-test-commitment-key")

// testSIMs are distinct SIM identities read over PC/SC.
var testSIMs = []sim.Identity{
	{IMSI: "262011106487504", ICCID: "8949020000123456789", MCC: "262", MNC: "01", Source: sim.Source{Kind: sim.SourcePCSC, Name: "Virtual PCD 00 00"}},
	{IMSI: "310260123456789", ICCID: "8901260123456789012", MCC: "310", MNC: "260", Source: sim.Source{Kind: sim.SourceModem, Name: "/dev/ttyUSB2"}},
	{IMSI: "208150000000042", ICCID: "8933150000000000042", MCC: "208", MNC: "15", Source: sim.Source{Kind: sim.SourcePCSC}},
}

// claimFor is the claim, signed by signer in domain d, that account holds
// the SIM id.
func claimFor(t testing.TB, d pay.Domain, account pay.Account, id sim.Identity, signer ed25519.PrivateKey) sim.Claim {
	t.Helper()
	c, err := sim.NewClaim(simDomain(d), account[:], id, simKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func marshalClaim(t testing.TB, c sim.Claim) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register is p's RegisterIdentity for the SIM id on l.
func (p party) register(t testing.TB, l *Ledger, id sim.Identity) RegisterIdentity {
	t.Helper()
	return RegisterIdentity{Claim: marshalClaim(t, claimFor(t, l.Domain(), p.acct, id, p.priv))}
}

func mustBinding(t testing.TB, l *Ledger, a pay.Account) (Binding, bool) {
	t.Helper()
	b, ok, err := l.Binding(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b, ok
}

func TestRegisterAndTransferBinding(t *testing.T) {
	l := openTest(t, testGenesis())
	if _, ok := mustBinding(t, l, sellerP.acct); ok {
		t.Fatal("bound before registering")
	}
	sellerP.must(t, l, 7, sellerP.register(t, l, testSIMs[0]))
	b, ok := mustBinding(t, l, sellerP.acct)
	com, _ := sim.CommitIMSI(simKey, testSIMs[0].IMSI)
	ih, _ := sim.HashICCID(simKey, testSIMs[0].ICCID)
	want := Binding{Account: sellerP.acct, IMSICommitment: com, ICCIDHash: ih, MCC: "262", MNC: "01", Source: sim.SourcePCSC, BoundAt: 7}
	if !ok || b != want || !b.SIMAnchored() {
		t.Fatalf("binding %+v, %v; want %+v", b, ok, want)
	}
	buyerP.must(t, l, 8, buyerP.register(t, l, testSIMs[1]))

	// Key rotation: the seller's binding moves to a new key's account.
	newKey := newParty(9)
	nc := marshalClaim(t, claimFor(t, l.Domain(), newKey.acct, testSIMs[0], newKey.priv))
	sellerP.must(t, l, 9, TransferBinding{To: newKey.acct, NewClaim: nc})
	if _, ok := mustBinding(t, l, sellerP.acct); ok {
		t.Fatal("the old account is still bound after the transfer")
	}
	b, ok = mustBinding(t, l, newKey.acct)
	if want.Account, want.BoundAt = newKey.acct, 9; !ok || b != want {
		t.Fatalf("binding after transfer %+v, %v; want %+v", b, ok, want)
	}
	// The old account is free to bind another SIM; the old claim is dead.
	reject(t, l, sellerP.tx(t, l, sellerP.register(t, l, testSIMs[0])), 10, "IMSI commitment "+com.String()+" already bound to account "+newKey.acct.String())
	sellerP.must(t, l, 10, sellerP.register(t, l, testSIMs[2]))

	// A configured identity can be registered but is not SIM-anchored.
	cfg := sim.Identity{IMSI: "001010000000001", ICCID: "8900101000000000001", MCC: "001", MNC: "01", Source: sim.Source{Kind: sim.SourceConfig}}
	otherP.must(t, l, 11, otherP.register(t, l, cfg))
	if b, ok := mustBinding(t, l, otherP.acct); !ok || b.SIMAnchored() || b.Source != sim.SourceConfig {
		t.Fatalf("configured binding %+v, %v", b, ok)
	}
}

func TestEveryIdentityCheatFails(t *testing.T) {
	l := openTest(t, testGenesis())
	d := l.Domain()
	sellerP.must(t, l, 1, sellerP.register(t, l, testSIMs[0]))
	com0, _ := sim.CommitIMSI(simKey, testSIMs[0].IMSI)

	t.Run("two accounts with the same SIM", func(t *testing.T) {
		reject(t, l, buyerP.tx(t, l, buyerP.register(t, l, testSIMs[0])), 2,
			"register identity: IMSI commitment "+com0.String()+" already bound to account "+sellerP.acct.String())
	})
	t.Run("the same SIM read from another source", func(t *testing.T) {
		id := testSIMs[0]
		id.Source = sim.Source{Kind: sim.SourceModem, Name: "/dev/ttyUSB2"}
		reject(t, l, buyerP.tx(t, l, buyerP.register(t, l, id)), 2, "already bound to account "+sellerP.acct.String())
	})
	t.Run("the same account with two SIMs", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, sellerP.register(t, l, testSIMs[1])), 2, "account "+sellerP.acct.String()+" already bound to another SIM")
	})
	t.Run("the same claim registered again", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, sellerP.register(t, l, testSIMs[0])), 2, "is already bound to this SIM")
	})
	t.Run("replayed transaction", func(t *testing.T) {
		tx := Tx{From: sellerP.acct, Nonce: 1, Body: sellerP.register(t, l, testSIMs[0])}.Sign(d, sellerP.priv)
		reject(t, l, tx, 2, "nonce 1 already used (next is 2)")
	})
	t.Run("replayed claim of another account", func(t *testing.T) {
		c := sellerP.register(t, l, testSIMs[1]) // the seller's claim, sent by the buyer
		reject(t, l, buyerP.tx(t, l, c), 2, "claim is for account "+sellerP.acct.String()+", not "+buyerP.acct.String())
	})
	t.Run("claim for another account signed by the sender", func(t *testing.T) {
		c := claimFor(t, d, otherP.acct, testSIMs[1], buyerP.priv)
		reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim is for account "+otherP.acct.String())
	})
	t.Run("claim signed by the wrong key", func(t *testing.T) {
		c := claimFor(t, d, buyerP.acct, testSIMs[1], otherP.priv)
		reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim is signed by "+otherP.acct.String()+", not by "+buyerP.acct.String())
	})
	t.Run("claim signed by the wrong key under the right public key", func(t *testing.T) {
		c := claimFor(t, d, buyerP.acct, testSIMs[1], otherP.priv)
		c.PublicKey = buyerP.priv.Public().(ed25519.PublicKey)
		reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim signature does not verify")
	})
	t.Run("altered claim fields", func(t *testing.T) {
		for name, alter := range map[string]func(*sim.Claim){
			"commitment": func(c *sim.Claim) { c.IMSICommitment[0] ^= 1 },
			"iccid hash": func(c *sim.Claim) { c.ICCIDHash[5] ^= 1 },
			"mnc":        func(c *sim.Claim) { c.MNC = "02" },
			"source":     func(c *sim.Claim) { c.Source.Kind = sim.SourceConfig },
			"signature":  func(c *sim.Claim) { c.Signature[0] ^= 1 },
		} {
			c := claimFor(t, d, buyerP.acct, testSIMs[1], buyerP.priv)
			alter(&c)
			t.Run(name, func(t *testing.T) {
				reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim signature does not verify")
			})
		}
	})
	t.Run("claim for another chain", func(t *testing.T) {
		c := claimFor(t, pay.Domain{Chain: "x402-main"}, buyerP.acct, testSIMs[1], buyerP.priv)
		reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim signature does not verify")
	})
	t.Run("claim for another shard", func(t *testing.T) {
		c := claimFor(t, pay.Domain{Chain: d.Chain, Shard: d.Shard + 1}, buyerP.acct, testSIMs[1], buyerP.priv)
		reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim signature does not verify")
	})
	t.Run("malformed claims", func(t *testing.T) {
		good := buyerP.register(t, l, testSIMs[1]).Claim
		for name, raw := range map[string][]byte{
			"empty":     nil,
			"truncated": good[:len(good)-1],
			"trailing":  append(append([]byte(nil), good...), 0),
			"context":   append([]byte{0, 0, 0, 17, 'y'}, good[5:]...),
		} {
			t.Run(name, func(t *testing.T) {
				reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: raw}), 2, "sim: malformed data")
			})
		}
	})
	t.Run("claim with a 64-byte account", func(t *testing.T) {
		acct := append(append([]byte(nil), buyerP.acct[:]...), buyerP.acct[:]...)
		c, err := sim.NewClaim(simDomain(d), acct, testSIMs[1], simKey, buyerP.priv)
		if err != nil {
			t.Fatal(err)
		}
		reject(t, l, buyerP.tx(t, l, RegisterIdentity{Claim: marshalClaim(t, c)}), 2, "claim names a 64-byte account")
	})

	// Transfers.
	newKey := newParty(9)
	t.Run("transfer by an unbound account", func(t *testing.T) {
		nc := marshalClaim(t, claimFor(t, d, newKey.acct, testSIMs[0], newKey.priv))
		reject(t, l, buyerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc}), 2, "transfer binding: account "+buyerP.acct.String()+" is not bound to a SIM")
	})
	t.Run("transfer to another SIM", func(t *testing.T) {
		nc := marshalClaim(t, claimFor(t, d, newKey.acct, testSIMs[1], newKey.priv))
		reject(t, l, sellerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc}), 2, "a binding moves only with its SIM")
	})
	t.Run("transfer without the new key's consent", func(t *testing.T) {
		nc := marshalClaim(t, claimFor(t, d, newKey.acct, testSIMs[0], sellerP.priv))
		reject(t, l, sellerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc}), 2, "new claim: claim is signed by "+sellerP.acct.String())
	})
	t.Run("transfer with a claim naming another account", func(t *testing.T) {
		nc := marshalClaim(t, claimFor(t, d, otherP.acct, testSIMs[0], otherP.priv))
		reject(t, l, sellerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc}), 2, "new claim: claim is for account "+otherP.acct.String())
	})
	t.Run("transfer with a claim of another chain", func(t *testing.T) {
		nc := marshalClaim(t, claimFor(t, pay.Domain{Chain: "x402-main"}, newKey.acct, testSIMs[0], newKey.priv))
		reject(t, l, sellerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc}), 2, "new claim: verify claim")
	})
	t.Run("transfer to oneself", func(t *testing.T) {
		nc := marshalClaim(t, claimFor(t, d, sellerP.acct, testSIMs[0], sellerP.priv))
		reject(t, l, sellerP.tx(t, l, TransferBinding{To: sellerP.acct, NewClaim: nc}), 2, "sender and recipient are the same account")
	})
	t.Run("transfer to a bound account", func(t *testing.T) {
		buyerP.must(t, l, 2, buyerP.register(t, l, testSIMs[1]))
		nc := marshalClaim(t, claimFor(t, d, buyerP.acct, testSIMs[0], buyerP.priv))
		reject(t, l, sellerP.tx(t, l, TransferBinding{To: buyerP.acct, NewClaim: nc}), 3, "account "+buyerP.acct.String()+" already bound to another SIM")
	})
	nc := marshalClaim(t, claimFor(t, d, newKey.acct, testSIMs[0], newKey.priv))
	moved := sellerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc})
	if r := l.Apply(moved, 3); r.Err != "" {
		t.Fatal(r.Err)
	}
	t.Run("replayed transfer", func(t *testing.T) {
		reject(t, l, moved, 4, "already used")
		again := sellerP.tx(t, l, TransferBinding{To: newKey.acct, NewClaim: nc})
		reject(t, l, again, 4, "account "+sellerP.acct.String()+" is not bound to a SIM")
	})
	t.Run("old claim replayed after the transfer", func(t *testing.T) {
		reject(t, l, sellerP.tx(t, l, sellerP.register(t, l, testSIMs[0])), 4, "already bound to account "+newKey.acct.String())
	})
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestRequireSIMForSellers(t *testing.T) {
	g := testGenesis()
	g.RequireSIMForSellers = true
	l := openTest(t, g)
	open := OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 1000, Challenge: time.Minute}
	reject(t, l, buyerP.tx(t, l, open), 1, "seller "+sellerP.acct.String()+" is not bound to a SIM, and this ledger requires SIM-anchored sellers")
	cfg := sim.Identity{IMSI: "001010000000001", ICCID: "8900101000000000001", MCC: "001", MNC: "01", Source: sim.Source{Kind: sim.SourceConfig}}
	sellerP.must(t, l, 1, sellerP.register(t, l, cfg))
	reject(t, l, buyerP.tx(t, l, open), 1, "bound to a config identity, not a SIM")
	otherP.must(t, l, 1, otherP.register(t, l, testSIMs[0]))
	open.Seller = otherP.acct
	buyerP.must(t, l, 2, open)

	// The flag is part of the genesis a file is checked against.
	l.Close()
	if _, err := open2(l.path, testGenesis()); err == nil || !strings.Contains(err.Error(), "different genesis") {
		t.Fatalf("reopen without the flag: %v", err)
	}
	l2, err := open2(l.path, g)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if !g.RequireSIMForSellers || !strings.Contains(string(mustJSON(t, g)), `"require_sim_for_sellers": true`) {
		t.Fatalf("genesis JSON lacks the flag: %s", mustJSON(t, g))
	}
	if strings.Contains(string(mustJSON(t, testGenesis())), "require_sim") {
		t.Fatal("genesis JSON shows the flag when it is false")
	}
}

func open2(path string, g Genesis) (*Ledger, error) { return open(path, g, openOptions{noSync: true}) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOlderFileGainsIdentityBuckets opens a file written before SIM
// bindings existed (no identity buckets) and uses it.
func TestOlderFileGainsIdentityBuckets(t *testing.T) {
	l := openTest(t, testGenesis())
	path := l.path
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, name := range identityBuckets {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = open2(path, testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sellerP.must(t, l, 1, sellerP.register(t, l, testSIMs[0]))
}

// TestBindingInvariants corrupts the binding buckets and expects
// CheckInvariants to notice.
func TestBindingInvariants(t *testing.T) {
	for name, corrupt := range map[string]func(tx *bolt.Tx) error{
		"commitment points elsewhere": func(tx *bolt.Tx) error {
			com, _ := sim.CommitIMSI(simKey, testSIMs[0].IMSI)
			return tx.Bucket(bucketCommitments).Put(com[:], buyerP.acct[:])
		},
		"dangling commitment": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketCommitments).Put(make([]byte, 32), otherP.acct[:])
		},
		"account without its commitment": func(tx *bolt.Tx) error {
			com, _ := sim.CommitIMSI(simKey, testSIMs[0].IMSI)
			return tx.Bucket(bucketCommitments).Delete(com[:])
		},
		"corrupt record": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketBindings).Put(sellerP.acct[:], []byte{1, 2, 3})
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := openTest(t, testGenesis())
			sellerP.must(t, l, 1, sellerP.register(t, l, testSIMs[0]))
			buyerP.must(t, l, 1, buyerP.register(t, l, testSIMs[1]))
			if err := l.db.Update(corrupt); err != nil {
				t.Fatal(err)
			}
			if err := l.CheckInvariants(); err == nil {
				t.Fatal("corruption not detected")
			}
		})
	}
}

func TestBindingOverHTTP(t *testing.T) {
	l := openTest(t, testGenesis())
	seq := NewSequencer(l, nil)
	srv := httptest.NewServer(NewHTTPHandler(seq))
	defer srv.Close()
	c := NewHTTPClient(srv.URL)
	br, ok := c.(BindingReader)
	if !ok {
		t.Fatal("the HTTP client is not a BindingReader")
	}
	ctx := t.Context()
	if _, bound, err := br.Binding(ctx, sellerP.acct); err != nil || bound {
		t.Fatalf("binding before registering: %v, %v", bound, err)
	}
	body := sellerP.register(t, l, testSIMs[0])
	if _, err := SubmitBody(ctx, c, l.Domain(), sellerP.priv, body); err != nil {
		t.Fatal(err)
	}
	got, bound, err := br.Binding(ctx, sellerP.acct)
	want, _ := mustBinding(t, l, sellerP.acct)
	if err != nil || !bound || got != want {
		t.Fatalf("binding over HTTP %+v, %v, %v; want %+v", got, bound, err, want)
	}
	_, err = SubmitBody(ctx, c, l.Domain(), buyerP.priv, buyerP.register(t, l, testSIMs[0]))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "already bound to account "+sellerP.acct.String()) {
		t.Fatalf("second account for the SIM over HTTP: %v", err)
	}

	// A server without bindings (another Client) answers 501, and a server
	// without the route 404: both are errors, never "not bound".
	plain := httptest.NewServer(NewHTTPHandler(clientOnly{seq}))
	defer plain.Close()
	if _, _, err := NewHTTPClient(plain.URL).(BindingReader).Binding(ctx, sellerP.acct); err == nil || !strings.Contains(err.Error(), "501") {
		t.Fatalf("binding from a server without bindings: %v", err)
	}
	old := httptest.NewServer(http.NotFoundHandler())
	defer old.Close()
	if _, _, err := NewHTTPClient(old.URL).(BindingReader).Binding(ctx, sellerP.acct); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("binding from a server without the route: %v", err)
	}
	resp, err := http.Get(srv.URL + pathBinding + "x402_nonsense")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad account id: status %d", resp.StatusCode)
	}
}

// clientOnly hides every method but Client's.
type clientOnly struct{ Client }
