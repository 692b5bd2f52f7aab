package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/pay"
)

func TestReopenGivesSameDigestAndState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "ledger.db")
	g := testGenesis()
	l, err := Open(path, g)
	if err != nil {
		t.Fatal(err)
	}
	id := buyerP.must(t, l, 1, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 5_000_000, Challenge: time.Minute}).Channel
	sellerP.must(t, l, 2, Claim{Voucher: voucher(l, id, 300_000, 1)})
	sellerP.must(t, l, 3, Faucet{Asset: usd})
	issuerP.must(t, l, 4, Mint{To: otherP.acct, Asset: pay.X402, Amount: 7})
	digest := l.Digest()
	acct, _ := l.Account(buyerP.acct)
	ch, _ := l.Channel(id)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}

	l, err = Open(path, g)
	if err != nil {
		t.Fatal(err)
	}
	if l.Digest() != digest {
		t.Fatal("digest changed across reopen")
	}
	acct2, _ := l.Account(buyerP.acct)
	ch2, _ := l.Channel(id)
	if !reflect.DeepEqual(acct, acct2) || ch != ch2 {
		t.Fatalf("state changed across reopen: %+v %+v / %+v %+v", acct, ch, acct2, ch2)
	}
	if n, err := l.Applied(); err != nil || n != 4 {
		t.Fatalf("applied %d, %v; want 4", n, err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	// The genesis is applied once: reopening did not mint the allocations again.
	if got := balance(t, l, otherP.acct, usd); got != 10*pay.Nano {
		t.Fatalf("allocation applied twice: %d", got)
	}
	l.Close()

	other := g
	other.FeePPM = 20
	if _, err := Open(path, other); err == nil || !strings.Contains(err.Error(), "different genesis") {
		t.Fatalf("reopen with another genesis: %v", err)
	}
}

func TestOpenRejectsCorruptAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage, testGenesis()); err == nil || !strings.Contains(err.Error(), "not a valid ledger file") {
		t.Fatalf("garbage file: %v", err)
	}

	// A valid ledger whose meta pages are then overwritten.
	corrupt := filepath.Join(dir, "corrupt.db")
	l, err := Open(corrupt, testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, err := os.OpenFile(corrupt, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 8192), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(corrupt, testGenesis()); err == nil || !strings.Contains(err.Error(), "open ledger") {
		t.Fatalf("corrupt file: %v", err)
	}

	// A healthy bbolt file that belongs to something else.
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("usage/v1")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(foreign, testGenesis()); err == nil || !strings.Contains(err.Error(), "not a ledger file") {
		t.Fatalf("foreign file: %v", err)
	}
}

func TestInvariantsDetectTampering(t *testing.T) {
	tamper := func(t *testing.T, bucket, key, value []byte, want string) {
		t.Helper()
		l := openTest(t, testGenesis())
		id := buyerP.must(t, l, 1, OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: 1000, Challenge: time.Minute}).Channel
		if key == nil {
			key = id[:]
		}
		if err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) }); err != nil {
			t.Fatal(err)
		}
		if err := l.CheckInvariants(); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("tampered %s: %v, want %q", bucket, err, want)
		}
	}
	t.Run("money from nowhere", func(t *testing.T) {
		tamper(t, bucketBalances, assetKey(sellerP.acct, usd), u64Bytes(1), "not conserved")
	})
	t.Run("claimed above deposit", func(t *testing.T) {
		ch := ChannelState{Buyer: buyerP.acct, Seller: sellerP.acct, Asset: usd, Deposit: 1000, Claimed: 1001, Status: StatusOpen}
		tamper(t, bucketChannels, nil, encodeChannel(ch), "exceeds the deposit")
	})
	t.Run("settled without refund", func(t *testing.T) {
		ch := ChannelState{Buyer: buyerP.acct, Seller: sellerP.acct, Asset: usd, Deposit: 1000, Status: StatusSettled}
		tamper(t, bucketChannels, nil, encodeChannel(ch), "settled: claimed 0 + refunded 0 != deposit 1000")
	})
	t.Run("corrupt channel record", func(t *testing.T) {
		tamper(t, bucketChannels, nil, []byte{1, 2, 3}, "corrupt record")
	})
	t.Run("corrupt balance record", func(t *testing.T) {
		tamper(t, bucketBalances, assetKey(buyerP.acct, usd), []byte{1}, "malformed record")
	})
}

func TestGenesisSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "genesis.json")
	g := testGenesis()
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("genesis file mode %v, %v", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"min_challenge": "1s"`) || !strings.Contains(string(b), feeP.acct.String()) {
		t.Fatalf("genesis JSON is not human-readable:\n%s", b)
	}
	back, err := LoadGenesis(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, g) || !bytes.Equal(back.encode(), g.encode()) {
		t.Fatalf("round trip changed the genesis:\n%+v\n%+v", back, g)
	}
	if back.Domain() != (pay.Domain{Chain: "x402-test"}) {
		t.Fatalf("domain %+v", back.Domain())
	}

	for name, mutate := range map[string]func(*Genesis){
		"no chain":         func(g *Genesis) { g.Chain = "" },
		"fee above 100%":   func(g *Genesis) { g.FeePPM = 1_000_001 },
		"no fee account":   func(g *Genesis) { g.FeeAccount = pay.Account{} },
		"challenge bounds": func(g *Genesis) { g.MaxChallenge = 0 },
		"unknown asset":    func(g *Genesis) { g.Allocations = []Allocation{{Account: buyerP.acct, Asset: "EUR", Amount: 1}} },
		"overflow": func(g *Genesis) {
			g.Allocations = []Allocation{{Account: buyerP.acct, Asset: usd, Amount: 1 << 63}, {Account: otherP.acct, Asset: usd, Amount: 1 << 63}}
		},
		"empty faucet": func(g *Genesis) { g.Faucet = &FaucetParams{Asset: usd} },
	} {
		bad := testGenesis()
		mutate(&bad)
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := Open(filepath.Join(t.TempDir(), "l.db"), bad); err == nil {
			t.Errorf("%s: Open accepted it", name)
		}
	}
	if err := os.WriteFile(path, []byte(`{"chain": 5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGenesis(path); err == nil {
		t.Fatal("malformed genesis loaded")
	}
}
