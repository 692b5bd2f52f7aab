package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// party is a test key and its account.
type party struct {
	priv ed25519.PrivateKey
	acct pay.Account
}

func newParty(seed byte) party {
	var s [32]byte
	s[0], s[31] = seed, 0x42
	priv := ed25519.NewKeyFromSeed(s[:])
	return party{priv: priv, acct: pay.AccountOf(priv.Public().(ed25519.PublicKey))}
}

var (
	issuerP = newParty(1)
	feeP    = newParty(2)
	buyerP  = newParty(3)
	sellerP = newParty(4)
	otherP  = newParty(5)
)

const usd = pay.USD

func testGenesis() Genesis {
	return Genesis{
		Chain: "x402-test", Shard: 0, FeePPM: 10, FeeAccount: feeP.acct, Issuer: issuerP.acct,
		Allocations: []Allocation{
			{Account: buyerP.acct, Asset: usd, Amount: 10 * pay.Nano},
			{Account: otherP.acct, Asset: usd, Amount: 10 * pay.Nano},
			{Account: buyerP.acct, Asset: pay.X402, Amount: 5 * pay.Nano},
		},
		Faucet:       &FaucetParams{Asset: usd, Amount: pay.Nano},
		MinChallenge: time.Second, MaxChallenge: time.Hour,
	}
}

// openTest opens a fresh ledger in a temporary directory, without fsync.
func openTest(t testing.TB, g Genesis) *Ledger {
	t.Helper()
	l, err := open(filepath.Join(t.TempDir(), "ledger.db"), g, openOptions{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// testChain is a deterministic PayWord chain of n ticks: w[n] = H(seed),
// w[i] = H(w[i+1]); it returns w[0..n].
func testChain(seed byte, n int) [][32]byte {
	w := make([][32]byte, n+1)
	w[n] = sha256.Sum256([]byte{seed, 0xc4})
	for i := n - 1; i >= 0; i-- {
		w[i] = sha256.Sum256(w[i+1][:])
	}
	return w
}

// actor signs and applies transactions for one party, tracking its nonce
// from the ledger.
func (p party) tx(t testing.TB, l *Ledger, body Body) SignedTx {
	t.Helper()
	st, err := l.Account(p.acct)
	if err != nil {
		t.Fatal(err)
	}
	return Tx{From: p.acct, Nonce: st.Nonce + 1, Body: body}.Sign(l.Domain(), p.priv)
}

// must applies body from p at now and fails the test if it is rejected.
func (p party) must(t testing.TB, l *Ledger, now int64, body Body) Receipt {
	t.Helper()
	r := l.Apply(p.tx(t, l, body), now)
	if r.Err != "" {
		t.Fatalf("%T from %s rejected: %s", body, p.acct, r.Err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	return r
}

func balance(t testing.TB, l *Ledger, a pay.Account, asset pay.Asset) pay.Amount {
	t.Helper()
	st, err := l.Account(a)
	if err != nil {
		t.Fatal(err)
	}
	return st.Balances[asset]
}

func voucher(l *Ledger, id pay.ChannelID, cum pay.Amount, seq uint64) pay.SignedVoucher {
	return pay.Voucher{Channel: id, Cumulative: cum, Seq: seq}.Sign(l.Domain(), buyerP.priv)
}
