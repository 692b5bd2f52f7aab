package shard

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/x402/x402/internal/keys"
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
		if free, err = freeUDPPorts(n); err != nil {
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

// freeUDPPorts returns n distinct loopback UDP ports that are free now,
// picked at random below the kernel's ephemeral range: a socket bound to
// an ephemeral port (any outgoing connection, any QUIC client) can then
// never take a replica's port between init and the replica's start.
func freeUDPPorts(n int) ([]int, error) {
	lo, hi := minInitPort, ephemeralPortsFrom()
	tried := map[int]bool{}
	var ports []int
	for len(ports) < n && len(tried) < hi-lo {
		p := lo + rand.IntN(hi-lo)
		if tried[p] {
			continue
		}
		tried[p] = true
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = pc.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("only %d free UDP ports in [%d, %d), want %d", len(ports), lo, hi, n)
	}
	return ports, nil
}

// minInitPort is the lowest port init picks, above the registered services.
const minInitPort = 10000

// ephemeralPortsFrom returns where the kernel's ephemeral port range starts
// (Linux's ip_local_port_range; 32768, its default, when it cannot be read
// or leaves too little room below it).
func ephemeralPortsFrom() int {
	const dflt = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return dflt
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return dflt
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < minInitPort+1000 {
		return dflt
	}
	return lo
}
