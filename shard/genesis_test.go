package shard

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/internal/ports"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

func ledgerGenesis() ledger.Genesis {
	return ledger.Genesis{Chain: "x402-shard-test", FeePPM: 10, FeeAccount: pay.Account{1}, Issuer: pay.Account{2},
		MinChallenge: time.Second, MaxChallenge: time.Hour}
}

func TestInitWritesAValidShard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shard")
	res, err := Init(dir, 4, ledgerGenesis(), 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := LoadGenesis(res.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Replicas) != 4 || g.F() != 1 || len(res.Replicas) != 4 {
		t.Fatalf("genesis %+v, result %+v", g, res)
	}
	for _, r := range res.Replicas {
		c, err := LoadReplicaConfig(r.Config)
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]os.FileMode{r.Config: 0o600, c.Path(c.Key): 0o600, filepath.Dir(r.Config): 0o700} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
			}
		}
		if c.ID != r.ID || c.Path(c.Genesis) != filepath.Join(dir, "genesis.json") {
			t.Errorf("replica config %+v", c)
		}
	}
	if _, err := Init(dir, 4, ledgerGenesis(), 0); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
}

// TestInitPicksPortsBelowTheEphemeralRange: the replicas' default
// addresses are distinct loopback ports that no outgoing socket can be
// given by the kernel in the meantime.
func TestInitPicksPortsBelowTheEphemeralRange(t *testing.T) {
	from := ports.EphemeralFrom()
	for run := range 5 {
		res, err := Init(filepath.Join(t.TempDir(), "shard"), 7, ledgerGenesis(), 0)
		if err != nil {
			t.Fatal(err)
		}
		g, err := LoadGenesis(res.Genesis)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range g.Replicas {
			host, port, err := net.SplitHostPort(r.Address)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := strconv.Atoi(port)
			if host != "127.0.0.1" || p < ports.Min || p >= from || seen[port] {
				t.Fatalf("run %d: replica %d at %s: want distinct loopback ports in [%d, %d)", run, r.ID, r.Address, ports.Min, from)
			}
			seen[port] = true
		}
	}
}

func TestValidateRejectsBadShards(t *testing.T) {
	good := func() Genesis {
		g := Genesis{Ledger: ledgerGenesis()}
		for i, k := range []string{"01", "02", "03", "04"} {
			g.Replicas = append(g.Replicas, Replica{ID: uint32(i), Key: strings.Repeat(k, 32), Address: "127.0.0.1:" + string(rune('1'+i)) + "000"})
		}
		return g
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Genesis){
		"three replicas": func(g *Genesis) { g.Replicas = g.Replicas[:3] },
		"five replicas": func(g *Genesis) {
			g.Replicas = append(g.Replicas, Replica{ID: 4, Key: strings.Repeat("05", 32), Address: "127.0.0.1:6000"})
		},
		"ids out of order": func(g *Genesis) { g.Replicas[1].ID = 3 },
		"bad key":          func(g *Genesis) { g.Replicas[2].Key = "zz" },
		"duplicate key":    func(g *Genesis) { g.Replicas[3].Key = g.Replicas[0].Key },
		"bad address":      func(g *Genesis) { g.Replicas[0].Address = "nowhere" },
		"bad ledger":       func(g *Genesis) { g.Ledger.Chain = "" },
	} {
		g := good()
		mutate(&g)
		if err := g.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReplicaConfigRejectsUnknownFields(t *testing.T) {
	p := filepath.Join(t.TempDir(), "replica.json")
	os.WriteFile(p, []byte(`{"genesis":"g","key":"k","state_dir":"s","lisen":"typo"}`), 0o600)
	if _, err := LoadReplicaConfig(p); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("unknown field: %v", err)
	}
}
