package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MinCommitmentKeyLen is the shortest network commitment key accepted.
const MinCommitmentKeyLen = 16

// Labels that separate the keyed hashes of the IMSI and of the ICCID, so
// that one can never be mistaken for the other.
const (
	imsiCommitLabel = "x402/sim-imsi-commitment/v1"
	iccidHashLabel  = "x402/sim-iccid-hash/v1"
)

// Commitment is a keyed hash of an IMSI or ICCID (HMAC-SHA256).
type Commitment [sha256.Size]byte

// String returns the commitment in hex.
func (c Commitment) String() string { return hex.EncodeToString(c[:]) }

// CommitIMSI returns the IMSI commitment: HMAC-SHA256 under the network
// commitment key of a domain-separated, length-prefixed encoding of the IMSI.
// The same IMSI and key always give the same commitment; see the package
// documentation for what it does and does not hide.
func CommitIMSI(key []byte, imsi string) (Commitment, error) {
	if err := ValidateIMSI(imsi); err != nil {
		return Commitment{}, fmt.Errorf("commit IMSI: %w", err)
	}
	return keyedHash(key, imsiCommitLabel, imsi)
}

// HashICCID returns the ICCID hash: HMAC-SHA256 under the network
// commitment key, with a label distinct from the IMSI commitment's.
func HashICCID(key []byte, iccid string) (Commitment, error) {
	if err := ValidateICCID(iccid); err != nil {
		return Commitment{}, fmt.Errorf("hash ICCID: %w", err)
	}
	return keyedHash(key, iccidHashLabel, iccid)
}

// keyedHash computes HMAC-SHA256(key, lp(label) || lp(value)).
func keyedHash(key []byte, label, value string) (Commitment, error) {
	if len(key) < MinCommitmentKeyLen {
		return Commitment{}, fmt.Errorf("commitment key has %d bytes, want at least %d", len(key), MinCommitmentKeyLen)
	}
	var e encoder
	e.str(label)
	e.str(value)
	m := hmac.New(sha256.New, key)
	m.Write(e.buf)
	var c Commitment
	copy(c[:], m.Sum(nil))
	return c, nil
}
