package shard

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ReplicaConfig is one replica's config file (JSON). Relative paths are
// relative to the file.
type ReplicaConfig struct {
	Genesis  string `json:"genesis"`   // the shard genesis file
	ID       uint32 `json:"id"`        // this replica's id in it
	Key      string `json:"key"`       // this replica's ed25519 key file (0600)
	StateDir string `json:"state_dir"` // ledger and consensus state (0700)
	Listen   string `json:"listen"`    // address to listen on (default: the genesis address)
	Status   string `json:"status"`    // HTTP status address ("" for none)
	dir      string
}

// LoadReplicaConfig reads a replica config.
func LoadReplicaConfig(path string) (ReplicaConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ReplicaConfig{}, fmt.Errorf("replica config: %w", err)
	}
	var c ReplicaConfig
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return ReplicaConfig{}, fmt.Errorf("replica config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return ReplicaConfig{}, err
	}
	c.dir = filepath.Dir(abs)
	if c.Genesis == "" || c.Key == "" || c.StateDir == "" {
		return ReplicaConfig{}, fmt.Errorf("replica config %s: genesis, key and state_dir are required", path)
	}
	return c, nil
}

// Path resolves p against the config file's directory.
func (c ReplicaConfig) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Save writes c to path (0600), refusing to overwrite.
func (c ReplicaConfig) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileExcl(path, append(b, '\n'))
}
