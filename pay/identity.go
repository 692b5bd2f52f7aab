package pay

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/x402/x402/internal/edsig"
	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/wire"
)

// Account is an ed25519 public key; its text form is keys.AccountID.
type Account [ed25519.PublicKeySize]byte

// AccountOf returns the account of pub.
func AccountOf(pub ed25519.PublicKey) Account {
	var a Account
	copy(a[:], pub)
	return a
}

// PublicKey returns the account's key.
func (a Account) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(a[:]) }

// String is the checksummed text form ("x402_...").
func (a Account) String() string { return keys.AccountID(a[:]) }

// IsZero reports whether a is unset.
func (a Account) IsZero() bool { return a == Account{} }

// ParseAccount parses the text form, checking its checksum.
func ParseAccount(s string) (Account, error) {
	pub, err := keys.ParseAccountID(s)
	if err != nil {
		return Account{}, err
	}
	return AccountOf(pub), nil
}

// MarshalText implements encoding.TextMarshaler.
func (a Account) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Account) UnmarshalText(b []byte) error {
	v, err := ParseAccount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ChannelID names a payment channel; the ledger derives it at open.
type ChannelID [32]byte

// String is the id in hex.
func (c ChannelID) String() string { return hex.EncodeToString(c[:]) }

// ParseChannelID parses the hex form.
func ParseChannelID(s string) (ChannelID, error) {
	var c ChannelID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, fmt.Errorf("channel id %q: want %d hex bytes", s, len(c))
	}
	copy(c[:], b)
	return c, nil
}

// MarshalText implements encoding.TextMarshaler.
func (c ChannelID) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *ChannelID) UnmarshalText(b []byte) error {
	v, err := ParseChannelID(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Domain separates signatures of one network and shard from every other:
// every signed message is prefixed with its kind, the chain id and the
// shard id, so a signature made for one purpose never verifies for another.
type Domain struct {
	Chain string
	Shard uint32
}

// Kind names a type of signed message.
type Kind string

// The kinds of signed messages.
const (
	KindVoucher   Kind = "voucher"
	KindTx        Kind = "tx"
	KindStatement Kind = "statement"
	KindSession   Kind = "session"
)

// SignedBytes is exactly what is signed for a message of kind with payload.
func (d Domain) SignedBytes(kind Kind, payload []byte) []byte {
	return d.AppendSignedBytes(make([]byte, 0, len(payload)+64), kind, payload)
}

// AppendSignedBytes appends SignedBytes(kind, payload) to dst.
func (d Domain) AppendSignedBytes(dst []byte, kind Kind, payload []byte) []byte {
	return wire.Append(dst).String("x402/" + string(kind) + "/v1").String(d.Chain).U32(d.Shard).Var(payload).Bytes()
}

// Sign signs payload as a message of kind in d.
func (d Domain) Sign(priv ed25519.PrivateKey, kind Kind, payload []byte) [ed25519.SignatureSize]byte {
	var sig [ed25519.SignatureSize]byte
	copy(sig[:], edsig.Sign(priv, d.SignedBytes(kind, payload)))
	return sig
}

// Verify checks sig by signer over payload as a message of kind in d.
func (d Domain) Verify(signer Account, kind Kind, payload []byte, sig [ed25519.SignatureSize]byte) bool {
	return ed25519.Verify(signer.PublicKey(), d.SignedBytes(kind, payload), sig[:])
}
