package shard

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/ports"
	"github.com/x402/x402/pay/ledger"
)

// InitResult is what Init wrote.
type InitResult struct {
	Genesis  string          `json:"genesis"`
	Replicas []InitedReplica `json:"replicas"`
}

// InitedReplica is one replica's files.
type InitedReplica struct {
	ID     uint32 `json:"id"`
	Config string `json:"config"`
}

// Init writes, under dir, a shard genesis for n replicas on loopback
// (ports from basePort, or free ones below the ephemeral range when basePort
// is 0) running the
// ledger genesis lg, and one key and config per replica.
func Init(dir string, n int, lg ledger.Genesis, basePort int) (InitResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("shard init: %w", err)
	}
	g := Genesis{Ledger: lg}
	var privs []ed25519.PrivateKey
	var free []int
	if basePort == 0 {
		var err error
		if free, err = ports.Free("udp", n); err != nil {
			return InitResult{}, fmt.Errorf("shard init: %w", err)
		}
	}
	for i := range n {
		priv, err := keys.Generate()
		if err != nil {
			return InitResult{}, err
		}
		privs = append(privs, priv)
		port := basePort + i
		if basePort == 0 {
			port = free[i]
		}
		g.Replicas = append(g.Replicas, Replica{
			ID: uint32(i), Key: hex.EncodeToString(priv.Public().(ed25519.PublicKey)),
			Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		})
	}
	if err := g.Validate(); err != nil {
		return InitResult{}, err
	}
	res := InitResult{Genesis: filepath.Join(dir, "genesis.json")}
	if err := g.Save(res.Genesis); err != nil {
		return InitResult{}, err
	}
	for i, priv := range privs {
		rdir := filepath.Join(dir, fmt.Sprintf("replica-%d", i))
		if err := keys.Save(filepath.Join(rdir, "replica.key"), priv); err != nil {
			return InitResult{}, err
		}
		cfg := ReplicaConfig{Genesis: "../genesis.json", ID: uint32(i), Key: "replica.key", StateDir: "state"}
		path := filepath.Join(rdir, "replica.json")
		if err := cfg.Save(path); err != nil {
			return InitResult{}, err
		}
		res.Replicas = append(res.Replicas, InitedReplica{ID: uint32(i), Config: path})
	}
	return res, nil
}
