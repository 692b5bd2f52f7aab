package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// Genesis is the ledger's founding parameters and initial balances. Every
// replica of a shard must start from the same genesis.
type Genesis struct {
	Chain        string        `json:"chain"`
	Shard        uint32        `json:"shard"`
	FeePPM       uint32        `json:"fee_ppm"`
	FeeAccount   pay.Account   `json:"fee_account"`
	Issuer       pay.Account   `json:"issuer"`
	Allocations  []Allocation  `json:"allocations,omitempty"`
	Faucet       *FaucetParams `json:"faucet,omitempty"` // nil = no faucet
	MinChallenge time.Duration `json:"min_challenge"`
	MaxChallenge time.Duration `json:"max_challenge"`
	// RequireSIMForSellers makes OpenChannel refuse a seller whose account
	// is not bound (RegisterIdentity) to a SIM read over PC/SC or a modem,
	// and tells nodes not to start such a seller. The ledger holds no
	// commitment key: it checks claims by their signature, never an IMSI.
	RequireSIMForSellers bool `json:"require_sim_for_sellers,omitempty"`
}

// Allocation is an initial balance created by the genesis.
type Allocation struct {
	Account pay.Account `json:"account"`
	Asset   pay.Asset   `json:"asset"`
	Amount  pay.Amount  `json:"amount"`
}

// FaucetParams enables the Faucet transaction: once per account, it mints
// Amount of Asset to the sender (test networks only).
type FaucetParams struct {
	Asset  pay.Asset  `json:"asset"`
	Amount pay.Amount `json:"amount"`
}

// maxChainName bounds the chain id (it is part of every signed message).
const maxChainName = 64

// Domain is the signing domain of the ledger's chain and shard.
func (g Genesis) Domain() pay.Domain { return pay.Domain{Chain: g.Chain, Shard: g.Shard} }

// Validate checks the genesis parameters and that its allocations fit.
func (g Genesis) Validate() error {
	if g.Chain == "" || len(g.Chain) > maxChainName {
		return fmt.Errorf("genesis: chain id must be 1..%d bytes", maxChainName)
	}
	if g.FeePPM > 1_000_000 {
		return fmt.Errorf("genesis: fee %d ppm exceeds 1000000", g.FeePPM)
	}
	if g.FeeAccount.IsZero() {
		return errors.New("genesis: fee account is unset")
	}
	if g.MinChallenge <= 0 || g.MaxChallenge < g.MinChallenge {
		return fmt.Errorf("genesis: challenge bounds %v..%v: want 0 < min <= max", g.MinChallenge, g.MaxChallenge)
	}
	if f := g.Faucet; f != nil && (!f.Asset.Valid() || f.Amount == 0) {
		return fmt.Errorf("genesis: faucet of %d %q: want a known asset and a positive amount", f.Amount, f.Asset)
	}
	if _, err := g.supplies(); err != nil {
		return err
	}
	return nil
}

// supplies sums the allocations per asset, in the order of pay's assets.
func (g Genesis) supplies() (map[pay.Asset]pay.Amount, error) {
	s := map[pay.Asset]pay.Amount{}
	for i, a := range g.Allocations {
		if !a.Asset.Valid() || a.Amount == 0 || a.Account.IsZero() {
			return nil, fmt.Errorf("genesis: allocation %d: want an account, a known asset and a positive amount", i)
		}
		sum, err := s[a.Asset].Add(a.Amount)
		if err != nil {
			return nil, fmt.Errorf("genesis: allocations of %s: %w", a.Asset, err)
		}
		s[a.Asset] = sum
	}
	return s, nil
}

// encode is the canonical encoding stored in the ledger file and compared
// on reopen.
func (g Genesis) encode() []byte {
	w := wire.NewWriter(256).String("x402/genesis/v1").String(g.Chain).U32(g.Shard).U32(g.FeePPM).
		Fixed(g.FeeAccount[:]).Fixed(g.Issuer[:]).U32(uint32(len(g.Allocations)))
	for _, a := range g.Allocations {
		w.Fixed(a.Account[:]).String(string(a.Asset)).U64(uint64(a.Amount))
	}
	w.Bool(g.Faucet != nil)
	if g.Faucet != nil {
		w.String(string(g.Faucet.Asset)).U64(uint64(g.Faucet.Amount))
	}
	w.U64(uint64(g.MinChallenge)).U64(uint64(g.MaxChallenge))
	if g.RequireSIMForSellers { // absent when false, so older files still match
		w.U8(1)
	}
	return w.Bytes()
}

// genesisJSON writes the challenge bounds as Go durations ("10m").
type genesisJSON struct {
	genesisAlias
	MinChallenge string `json:"min_challenge"`
	MaxChallenge string `json:"max_challenge"`
}

type genesisAlias Genesis

// MarshalJSON writes the challenge bounds as duration strings.
func (g Genesis) MarshalJSON() ([]byte, error) {
	return json.Marshal(genesisJSON{genesisAlias(g), g.MinChallenge.String(), g.MaxChallenge.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (g *Genesis) UnmarshalJSON(b []byte) error {
	var j genesisJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	minC, err := time.ParseDuration(j.MinChallenge)
	if err != nil {
		return fmt.Errorf("genesis min_challenge: %w", err)
	}
	maxC, err := time.ParseDuration(j.MaxChallenge)
	if err != nil {
		return fmt.Errorf("genesis max_challenge: %w", err)
	}
	*g = Genesis(j.genesisAlias)
	g.MinChallenge, g.MaxChallenge = minC, maxC
	return nil
}

// LoadGenesis reads and validates a genesis written by Save.
func LoadGenesis(path string) (Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Genesis{}, fmt.Errorf("load genesis: %w", err)
	}
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		return Genesis{}, fmt.Errorf("load genesis %s: %w", path, err)
	}
	if err := g.Validate(); err != nil {
		return Genesis{}, fmt.Errorf("load genesis %s: %w", path, err)
	}
	return g, nil
}

// Save writes g as indented JSON to path (0600, in a 0700 directory),
// replacing the file atomically.
func (g Genesis) Save(path string) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return fmt.Errorf("save genesis: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".genesis-*")
	if err != nil {
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	return nil
}
