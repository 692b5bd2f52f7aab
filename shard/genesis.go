package shard

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/x402/x402/pay/ledger"
)

// Replica is one member of the shard as the genesis names it.
type Replica struct {
	ID      uint32 `json:"id"`
	Key     string `json:"key"`     // ed25519 public key, hex
	Address string `json:"address"` // host:port (UDP, QUIC)
}

// PublicKey decodes the replica's key.
func (r Replica) PublicKey() (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(r.Key)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("replica %d: key must be %d hex bytes", r.ID, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Genesis is a shard's founding file: the ledger it runs and its replicas.
type Genesis struct {
	Ledger   ledger.Genesis `json:"ledger"`
	Replicas []Replica      `json:"replicas"`
}

// F is the number of faulty replicas the shard tolerates.
func (g Genesis) F() int { return (len(g.Replicas) - 1) / 3 }

// Keys returns the replicas' public keys in id order.
func (g Genesis) Keys() ([]ed25519.PublicKey, error) {
	out := make([]ed25519.PublicKey, len(g.Replicas))
	for i, r := range g.Replicas {
		k, err := r.PublicKey()
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// Addresses returns the replicas' addresses in id order.
func (g Genesis) Addresses() []string {
	out := make([]string, len(g.Replicas))
	for i, r := range g.Replicas {
		out[i] = r.Address
	}
	return out
}

// Validate checks the shard's shape: n = 3f+1 replicas with ids 0..n-1,
// distinct valid keys and addresses, and a valid ledger genesis.
func (g Genesis) Validate() error {
	n := len(g.Replicas)
	if n < 4 || (n-1)%3 != 0 {
		return fmt.Errorf("shard genesis: %d replicas; want 3f+1 with f >= 1 (4, 7, 10, ...)", n)
	}
	seen := map[string]bool{}
	for i, r := range g.Replicas {
		if r.ID != uint32(i) {
			return fmt.Errorf("shard genesis: replica %d has id %d; ids must be 0..%d in order", i, r.ID, n-1)
		}
		if _, err := r.PublicKey(); err != nil {
			return fmt.Errorf("shard genesis: %w", err)
		}
		if _, _, err := net.SplitHostPort(r.Address); err != nil {
			return fmt.Errorf("shard genesis: replica %d address: %w", i, err)
		}
		if seen[r.Key] || seen[r.Address] {
			return fmt.Errorf("shard genesis: replica %d repeats another's key or address", i)
		}
		seen[r.Key], seen[r.Address] = true, true
	}
	if err := g.Ledger.Validate(); err != nil {
		return fmt.Errorf("shard genesis: %w", err)
	}
	return nil
}

// Save writes g to path (0600).
func (g Genesis) Save(path string) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save shard genesis: %w", err)
	}
	return writeFileExcl(path, append(b, '\n'))
}

// LoadGenesis reads and validates a shard genesis file.
func LoadGenesis(path string) (Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Genesis{}, fmt.Errorf("shard genesis: %w", err)
	}
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		return Genesis{}, fmt.Errorf("shard genesis %s: %w", path, err)
	}
	if err := g.Validate(); err != nil {
		return Genesis{}, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// writeFileExcl creates path 0600, refusing to overwrite.
func writeFileExcl(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite", path)
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
