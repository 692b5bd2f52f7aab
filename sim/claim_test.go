package sim

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// testKey is a fixed network commitment key for tests.
var testKey = bytes.Repeat([]byte{0x42}, 32)

func testIdentity(t *testing.T) Identity {
	t.Helper()
	id, err := newIdentity("262011106487504", "8949020000123456789", 2, Source{Kind: SourcePCSC, Name: "Virtual PCD 00 00"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testSigner(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

var testDomain = Domain{ChainID: "x402-test", ShardID: 3}

func TestClaimSignVerify(t *testing.T) {
	c, err := NewClaim(testDomain, []byte("acct-1"), testIdentity(t), testKey, testSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(testDomain); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want, _ := CommitIMSI(testKey, "262011106487504")
	if c.IMSICommitment != want || c.MCC != "262" || c.MNC != "01" || c.Source.Kind != SourcePCSC {
		t.Fatalf("claim fields wrong: %+v", c)
	}
	msg, err := c.SignedBytes(testDomain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(msg, append([]byte{0, 0, 0, byte(len(ClaimContext))}, ClaimContext...)) {
		t.Fatalf("signed bytes do not start with the context string: % X", msg[:24])
	}
	if bytes.Contains(msg, []byte("262011106487504")) || bytes.Contains(msg, []byte("8949020000123456789")) {
		t.Fatal("signed bytes contain the IMSI or ICCID")
	}
}

func TestClaimAlteredRejected(t *testing.T) {
	good, err := NewClaim(testDomain, []byte("acct-1"), testIdentity(t), testKey, testSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	alter := map[string]func(c *Claim){
		"account":         func(c *Claim) { c.Account = []byte("acct-2") },
		"imsi commitment": func(c *Claim) { c.IMSICommitment[0] ^= 1 },
		"iccid hash":      func(c *Claim) { c.ICCIDHash[31] ^= 0x80 },
		"mcc":             func(c *Claim) { c.MCC = "263" },
		"mnc":             func(c *Claim) { c.MNC = "02" },
		"mnc length":      func(c *Claim) { c.MNC = "011" },
		"source kind":     func(c *Claim) { c.Source.Kind = SourceModem },
		"source name":     func(c *Claim) { c.Source.Name = "/dev/ttyUSB2" },
		"public key":      func(c *Claim) { c.PublicKey = other.Public().(ed25519.PublicKey) },
		"signature":       func(c *Claim) { c.Signature[5] ^= 1 },
		"no signature":    func(c *Claim) { c.Signature = nil },
		"bad kind":        func(c *Claim) { c.Source.Kind = "sat" },
		"empty account":   func(c *Claim) { c.Account = nil },
		"forged by other": func(c *Claim) {
			c.PublicKey = other.Public().(ed25519.PublicKey)
			msg, _ := c.SignedBytes(testDomain)
			c.Signature = ed25519.Sign(testSigner(t), msg) // signed by the wrong key
		},
	}
	for name, f := range alter {
		t.Run(name, func(t *testing.T) {
			c := good
			c.Account = append([]byte(nil), good.Account...)
			c.Signature = append([]byte(nil), good.Signature...)
			f(&c)
			if err := c.Verify(testDomain); err == nil {
				t.Fatal("altered claim verified")
			}
			if err := good.Verify(testDomain); err != nil {
				t.Fatalf("alteration leaked into the original: %v", err)
			}
		})
	}
}

func TestClaimDomainSeparation(t *testing.T) {
	c, err := NewClaim(testDomain, []byte("acct-1"), testIdentity(t), testKey, testSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Domain{
		{ChainID: "x402-main", ShardID: 3},
		{ChainID: "x402-test", ShardID: 4},
		{ChainID: "x402-tes", ShardID: 3},
	} {
		if err := c.Verify(d); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify under %+v = %v, want ErrBadSignature", d, err)
		}
	}
	if err := c.Verify(Domain{}); err == nil {
		t.Error("Verify with empty chain id succeeded")
	}
}

func TestCommitmentStableAndKeyed(t *testing.T) {
	a1, err := CommitIMSI(testKey, "262011106487504")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := CommitIMSI(append([]byte(nil), testKey...), "262011106487504")
	if a1 != a2 {
		t.Fatal("same IMSI and key gave different commitments")
	}
	otherKey := bytes.Repeat([]byte{0x43}, 32)
	b, _ := CommitIMSI(otherKey, "262011106487504")
	if a1 == b {
		t.Fatal("different keys gave the same commitment")
	}
	c, _ := CommitIMSI(testKey, "262011106487505")
	if a1 == c {
		t.Fatal("different IMSIs gave the same commitment")
	}
	// The ICCID hash is separated from the IMSI commitment.
	h, _ := HashICCID(testKey, "2620111064875")
	i, _ := CommitIMSI(testKey, "2620111064875")
	if h == i {
		t.Fatal("ICCID hash equals IMSI commitment of the same digits")
	}
	if _, err := CommitIMSI([]byte("short"), "262011106487504"); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := CommitIMSI(testKey, "26201x"); err == nil {
		t.Fatal("bad IMSI accepted")
	}
}

func TestClaimMarshalRoundTrip(t *testing.T) {
	c, err := NewClaim(testDomain, []byte("acct-1"), testIdentity(t), testKey, testSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var d Claim
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(testDomain); err != nil {
		t.Fatalf("decoded claim does not verify: %v", err)
	}
	b2, _ := d.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoding differs")
	}
	if err := d.UnmarshalBinary(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if err := d.UnmarshalBinary(b[:len(b)-1]); err == nil {
		t.Fatal("truncated claim accepted")
	}
	bad := append([]byte(nil), b...)
	bad[5] ^= 1 // inside the context string
	if err := d.UnmarshalBinary(bad); err == nil {
		t.Fatal("wrong context accepted")
	}
}

func TestNewClaimRejectsBadInput(t *testing.T) {
	id := testIdentity(t)
	if _, err := NewClaim(testDomain, []byte("a"), id, testKey, ed25519.PrivateKey{1}); err == nil {
		t.Error("bad private key accepted")
	}
	if _, err := NewClaim(testDomain, []byte("a"), id, []byte("k"), testSigner(t)); err == nil {
		t.Error("short commitment key accepted")
	}
	bad := id
	bad.MNC = "99"
	if _, err := NewClaim(testDomain, []byte("a"), bad, testKey, testSigner(t)); err == nil {
		t.Error("MNC not matching the IMSI accepted")
	}
	if _, err := NewClaim(testDomain, nil, id, testKey, testSigner(t)); err == nil {
		t.Error("empty account accepted")
	}
}

func TestConfigReader(t *testing.T) {
	id, err := ConfigReader{IMSI: "310260123456789", ICCID: "8901260123456789012", Name: "/etc/x402.toml"}.ReadIdentity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id.Source.SIMAnchored() || id.Source.Kind != SourceConfig || id.MNC != "260" {
		t.Fatalf("config identity %+v", id)
	}
	if _, err := (ConfigReader{IMSI: "31026x", ICCID: "8901260123456789012"}).ReadIdentity(t.Context()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad configured IMSI: %v", err)
	}
}
