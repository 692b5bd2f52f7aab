// Package keys owns the appliance's ed25519 identity on disk and the text
// form of account ids derived from public keys.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// accountPrefix starts every account id's text form.
const accountPrefix = "x402_"

// checksumDomain separates account-id checksums from every other hash.
const checksumDomain = "x402/account-id/v1"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Generate returns a new private key.
func Generate() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return priv, nil
}

// Save writes priv as PKCS#8 PEM to path, created 0600 in a 0700 directory;
// it refuses to overwrite an existing key.
func Save(path string, priv ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("save key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save key %s: %w", path, err)
	}
	return f.Close()
}

// Load reads a key written by Save, refusing one that others can read.
func Load(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load key %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load key %s: %T is not an ed25519 key", path, k)
	}
	return priv, nil
}

// AccountID is the stable, checksummed text form of the account of pub:
// "x402_" + base32(pub || 4-byte checksum).
func AccountID(pub ed25519.PublicKey) string {
	return accountPrefix + idEncoding.EncodeToString(append(append([]byte(nil), pub...), checksum(pub)...))
}

// ParseAccountID returns the public key behind id, checking its checksum.
func ParseAccountID(id string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(id, accountPrefix)
	if !ok {
		return nil, fmt.Errorf("account id %q: missing %q prefix", id, accountPrefix)
	}
	raw, err := idEncoding.DecodeString(rest)
	if err != nil || len(raw) != ed25519.PublicKeySize+4 {
		return nil, fmt.Errorf("account id %q: malformed", id)
	}
	pub := ed25519.PublicKey(raw[:ed25519.PublicKeySize])
	if subtle.ConstantTimeCompare(checksum(pub), raw[ed25519.PublicKeySize:]) != 1 {
		return nil, errors.New("account id " + id + ": checksum mismatch (typo?)")
	}
	return pub, nil
}

func checksum(pub []byte) []byte {
	h := sha256.New()
	h.Write([]byte(checksumDomain))
	h.Write(pub)
	return h.Sum(nil)[:4]
}
