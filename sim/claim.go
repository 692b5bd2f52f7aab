package sim

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// ClaimContext is the context string that starts every signed SIM claim, so
// that a claim signature never verifies as any other message type.
const ClaimContext = "x402/sim-claim/v1"

// Field limits of a claim's encoding.
const (
	maxAccountLen    = 256
	maxSourceKindLen = 16
	maxSourceNameLen = 256
	maxChainIDLen    = 256
)

// Domain separates claims between networks and shards: its fields are part
// of the signed bytes, so a claim signed for one chain or shard does not
// verify on another.
type Domain struct {
	// ChainID names the network (for example from its genesis).
	ChainID string
	// ShardID is the shard the claim is submitted to.
	ShardID uint32
}

// Claim ties an account to a SIM: the agent's ed25519 key signs the account,
// the IMSI commitment, the ICCID hash, the MCC/MNC and the source the
// identity was read from. It never carries the IMSI or ICCID themselves.
type Claim struct {
	// Account is the claiming account id, opaque to this package.
	Account []byte
	// PublicKey is the agent's ed25519 public key that signed the claim.
	PublicKey ed25519.PublicKey
	// IMSICommitment is CommitIMSI(network key, IMSI).
	IMSICommitment Commitment
	// ICCIDHash is HashICCID(network key, ICCID).
	ICCIDHash Commitment
	// MCC and MNC identify the SIM's home network.
	MCC, MNC string
	// Source is where the identity was read; only SIM-anchored sources
	// count as a SIM.
	Source Source
	// Signature is the ed25519 signature over SignedBytes.
	Signature []byte
}

// NewClaim builds and signs the claim that account holds the SIM of id on
// the network with the given commitment key.
func NewClaim(d Domain, account []byte, id Identity, commitmentKey []byte, priv ed25519.PrivateKey) (Claim, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Claim{}, fmt.Errorf("new claim: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := id.Validate(); err != nil {
		return Claim{}, fmt.Errorf("new claim: %w", err)
	}
	com, err := CommitIMSI(commitmentKey, id.IMSI)
	if err != nil {
		return Claim{}, fmt.Errorf("new claim: %w", err)
	}
	ih, err := HashICCID(commitmentKey, id.ICCID)
	if err != nil {
		return Claim{}, fmt.Errorf("new claim: %w", err)
	}
	c := Claim{
		Account:        append([]byte(nil), account...),
		PublicKey:      priv.Public().(ed25519.PublicKey),
		IMSICommitment: com,
		ICCIDHash:      ih,
		MCC:            id.MCC,
		MNC:            id.MNC,
		Source:         id.Source,
	}
	msg, err := c.SignedBytes(d)
	if err != nil {
		return Claim{}, fmt.Errorf("new claim: %w", err)
	}
	c.Signature = ed25519.Sign(priv, msg)
	return c, nil
}

// validateFields checks the claim's fields, not its signature.
func (c Claim) validateFields() error {
	var errs []error
	if len(c.Account) == 0 || len(c.Account) > maxAccountLen {
		errs = append(errs, fmt.Errorf("account must be 1 to %d bytes, got %d", maxAccountLen, len(c.Account)))
	}
	if len(c.PublicKey) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("public key has %d bytes, want %d", len(c.PublicKey), ed25519.PublicKeySize))
	}
	if err := validateMCCMNC(c.MCC, c.MNC); err != nil {
		errs = append(errs, err)
	}
	if !c.Source.Kind.valid() {
		errs = append(errs, fmt.Errorf("unknown source kind %q", c.Source.Kind))
	}
	if len(c.Source.Name) > maxSourceNameLen {
		errs = append(errs, fmt.Errorf("source name longer than %d bytes", maxSourceNameLen))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: claim: %w", ErrMalformed, err)
	}
	return nil
}

// SignedBytes returns the exact bytes the claim's signature covers:
// ClaimContext, the domain's chain id and shard id, then every field except
// the signature, each length-prefixed (see encoder).
func (c Claim) SignedBytes(d Domain) ([]byte, error) {
	if d.ChainID == "" || len(d.ChainID) > maxChainIDLen {
		return nil, fmt.Errorf("%w: chain id must be 1 to %d bytes", ErrMalformed, maxChainIDLen)
	}
	if err := c.validateFields(); err != nil {
		return nil, err
	}
	var e encoder
	e.str(ClaimContext)
	e.str(d.ChainID)
	e.u32(d.ShardID)
	c.encodeBody(&e)
	return e.buf, nil
}

// encodeBody appends the claim's fields, without domain and signature.
func (c Claim) encodeBody(e *encoder) {
	e.bytes(c.Account)
	e.bytes(c.PublicKey)
	e.bytes(c.IMSICommitment[:])
	e.bytes(c.ICCIDHash[:])
	e.str(c.MCC)
	e.str(c.MNC)
	e.str(string(c.Source.Kind))
	e.str(c.Source.Name)
}

// Verify checks the claim's fields and its signature under domain d. It
// does not check that the account belongs to the public key (the account
// format is another package's) nor that the source is SIM-anchored.
func (c Claim) Verify(d Domain) error {
	msg, err := c.SignedBytes(d)
	if err != nil {
		return fmt.Errorf("verify claim: %w", err)
	}
	if len(c.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("verify claim: %w: signature has %d bytes, want %d", ErrBadSignature, len(c.Signature), ed25519.SignatureSize)
	}
	if !ed25519.Verify(c.PublicKey, msg, c.Signature) {
		return fmt.Errorf("verify claim: %w", ErrBadSignature)
	}
	return nil
}

// MarshalBinary encodes the claim for transport: ClaimContext, the fields
// as in SignedBytes, then the signature. The domain is not included; the
// receiver verifies under its own.
func (c Claim) MarshalBinary() ([]byte, error) {
	if err := c.validateFields(); err != nil {
		return nil, err
	}
	var e encoder
	e.str(ClaimContext)
	c.encodeBody(&e)
	e.bytes(c.Signature)
	return e.buf, nil
}

// UnmarshalBinary decodes what MarshalBinary encodes, rejecting any other
// context string, out-of-range lengths and trailing bytes. It does not
// verify the signature.
func (c *Claim) UnmarshalBinary(b []byte) error {
	d := decoder{buf: b}
	if ctx := d.str("context", len(ClaimContext)); d.err == nil && ctx != ClaimContext {
		return fmt.Errorf("%w: claim context %q, want %q", ErrMalformed, ctx, ClaimContext)
	}
	var out Claim
	out.Account = d.bytes("account", maxAccountLen)
	out.PublicKey = d.fixed("public key", ed25519.PublicKeySize)
	copy(out.IMSICommitment[:], d.fixed("IMSI commitment", len(out.IMSICommitment)))
	copy(out.ICCIDHash[:], d.fixed("ICCID hash", len(out.ICCIDHash)))
	out.MCC = d.str("MCC", 3)
	out.MNC = d.str("MNC", 3)
	out.Source.Kind = SourceKind(d.str("source kind", maxSourceKindLen))
	out.Source.Name = d.str("source name", maxSourceNameLen)
	out.Signature = d.fixed("signature", ed25519.SignatureSize)
	if err := d.end(); err != nil {
		return fmt.Errorf("decode claim: %w", err)
	}
	if err := out.validateFields(); err != nil {
		return fmt.Errorf("decode claim: %w", err)
	}
	*c = out
	return nil
}
