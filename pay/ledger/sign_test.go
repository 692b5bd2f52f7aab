package ledger

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"filippo.io/edwards25519"

	"github.com/x402/x402/internal/edsig/edtest"
	"github.com/x402/x402/pay"
)

// signedTxs returns n transfers signed by n keys, and a few broken copies:
// each valid one at even i, a broken one (by kind, in turn) at odd i.
func signedTxs(t testing.TB, d pay.Domain, n int) (txs []SignedTx, valid []bool) {
	t.Helper()
	for i := range n {
		p := newParty(byte(10 + i%200))
		tx := Tx{From: p.acct, Nonce: uint64(i + 1), Body: Transfer{To: sellerP.acct, Asset: usd, Amount: pay.Amount(100 + i)}}.Sign(d, p.priv)
		if i%2 == 0 {
			txs, valid = append(txs, tx), append(valid, true)
			continue
		}
		bad := tx
		switch i / 2 % 5 {
		case 0:
			bad.Sig[3] ^= 0x40 // R
		case 1:
			bad.Sig[40] ^= 0x01 // S
		case 2:
			bad.Nonce++ // what was signed changed
		case 3:
			bad.From = buyerP.acct // another key
		case 4:
			bad.Sig = edtest.NonCanonicalS(bad.Sig)
		}
		txs, valid = append(txs, bad), append(valid, false)
	}
	return txs, valid
}

// TestVerifyBatchAgreesWithVerify: whatever a batch holds, VerifyBatch says
// of each transaction what its Verify says, and the valid ones pass.
func TestVerifyBatchAgreesWithVerify(t *testing.T) {
	d := testGenesis().Domain()
	all, valid := signedTxs(t, d, 40)
	for i, tx := range all {
		if got := tx.Verify(d) == nil; got != valid[i] {
			t.Fatalf("tx %d: Verify says %v, want %v", i, got, valid[i])
		}
		if i%2 == 1 && i/2%5 == 4 {
			if stdlib := ed25519.Verify(tx.From.PublicKey(), d.SignedBytes(pay.KindTx, tx.Payload()), tx.Sig[:]); stdlib {
				t.Fatalf("tx %d: RFC 8032 took S+L", i)
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	tiny := newKeyCacheOf(2) // turns most senders away, and turns over now and then
	for round := range 300 {
		n := 1 + rng.IntN(24)
		if round%50 == 49 { // a big batch, split across the cores
			n = 100 + rng.IntN(300)
		}
		batch := make([]SignedTx, n)
		want := make([]bool, n)
		onlyValid := round%3 == 0 // a third of the batches verify as a whole
		for j := range n {
			k := rng.IntN(len(all))
			for onlyValid && !valid[k] {
				k = rng.IntN(len(all))
			}
			batch[j], want[j] = all[k], valid[k]
		}
		results := [][]error{VerifyBatch(d, batch), verifyInGroups(d, batch, tiny, 1)}
		if n >= 100 { // and split in two and three whatever the processors do
			results = append(results, verifyInGroups(d, batch, nil, 2), verifyInGroups(d, batch, newKeyCache(), 3))
		}
		for split, errs := range results {
			for j, err := range errs {
				if (err == nil) != want[j] {
					t.Fatalf("round %d, batch of %d, split %d: tx %d: VerifyBatch says %v, Verify says %v", round, n, split, j, err, want[j])
				}
				if err != nil && err != ErrBadSignature {
					t.Fatalf("round %d: error %v, want ErrBadSignature", round, err)
				}
			}
		}
	}
}

// TestSignatureRuleIsZIP215 pins the rule where RFC 8032 implementations
// differ: under the key of a point of order 8, the signature (R = identity,
// S = 0) verifies for every message by the cofactored rule and for one in
// eight by the cofactorless one. The ledger takes it for every message, in
// a batch or alone, so whichever way a replica checked it, every replica
// agrees. (No such key is anyone's: its "signatures" are anyone's to make,
// under either rule.)
func TestSignatureRuleIsZIP215(t *testing.T) {
	d := testGenesis().Domain()
	keyBytes, _ := hex.DecodeString(edtest.SmallOrderKey)
	p, err := new(edwards25519.Point).SetBytes(keyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if p.Equal(edwards25519.NewIdentityPoint()) == 1 || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("the test key is not a point of small order")
	}
	var from pay.Account
	copy(from[:], keyBytes)
	var sig [64]byte
	sig[0] = 1 // R = identity, S = 0

	cofactorlessRefused := 0
	for nonce := range uint64(16) {
		tx := SignedTx{Tx: Tx{From: from, Nonce: nonce + 1, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}, Sig: sig}
		if !ed25519.Verify(from.PublicKey(), d.SignedBytes(pay.KindTx, tx.Payload()), sig[:]) {
			cofactorlessRefused++
		}
		if err := tx.Verify(d); err != nil {
			t.Fatalf("nonce %d: Verify: %v", nonce+1, err)
		}
		good, _ := signedTxs(t, d, 9) // valid at even indexes
		batch := []SignedTx{good[0], good[2], tx, good[4], good[6], good[8]}
		for j, err := range VerifyBatch(d, batch) {
			if err != nil {
				t.Fatalf("nonce %d: batch tx %d: %v", nonce+1, j, err)
			}
		}
	}
	if cofactorlessRefused == 0 {
		t.Fatal("RFC 8032's cofactorless check took all 16: the case does not tell the rules apart")
	}
}

// TestSignatureRuleTakesZIP215sSmallOrderCases: ZIP 215's test cases, every
// encoding of a small-order point as the key and as R with S = 0, are all
// valid signatures of any message, checked alone, in a batch, and with the
// key's expanded form cached. A shard whose replicas checked them by
// another rule, or by another library that follows ZIP 215 less closely,
// would split on them.
func TestSignatureRuleTakesZIP215sSmallOrderCases(t *testing.T) {
	d := testGenesis().Domain()
	encs, err := edtest.SmallOrderEncodings()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := signedTxs(t, d, 9)
	keys := newKeyCache()
	for i, a := range encs {
		var batch []SignedTx
		for j, r := range encs {
			var sig [64]byte
			copy(sig[:32], r[:])
			tx := SignedTx{Tx: Tx{From: pay.Account(a), Nonce: uint64(j + 1), Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}, Sig: sig}
			if err := tx.Verify(d); err != nil {
				t.Fatalf("A %d (%x), R %d (%x): Verify: %v", i, a, j, r, err)
			}
			var b signedBytes
			if err := tx.verify(b.of(d, tx.Tx), keys); err != nil {
				t.Fatalf("A %d, R %d: verify with the expanded key: %v", i, j, err)
			}
			batch = append(batch, tx, good[2*(j%5)])
		}
		for _, errs := range [][]error{VerifyBatch(d, batch), verifyBatch(d, batch, keys)} {
			for j, err := range errs {
				if err != nil {
					t.Fatalf("A %d: batch tx %d: %v", i, j, err)
				}
			}
		}
	}
}

// BenchmarkVerifyBatch compares checking n transaction signatures one by
// one (the baseline) with checking them as one batch, both on one core
// (VerifyBatch also splits big batches across idle processors), each with the
// senders' expanded keys computed afresh and found in a cache.
func BenchmarkVerifyBatch(b *testing.B) {
	d := testGenesis().Domain()
	for _, n := range []int{1, 4, 8, 16, 64, 256} {
		var txs []SignedTx
		for i := range n {
			p := newParty(byte(i))
			txs = append(txs, Tx{From: p.acct, Nonce: uint64(i + 1), Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 1}}.Sign(d, p.priv))
		}
		for _, keys := range []*keyCache{nil, newKeyCache()} {
			cached := map[bool]string{false: "", true: "-cached-keys"}[keys != nil]
			b.Run(fmt.Sprintf("one-by-one%s/%d", cached, n), func(b *testing.B) {
				var sb signedBytes
				for b.Loop() {
					for _, tx := range txs {
						if tx.verify(sb.of(d, tx.Tx), keys) != nil {
							b.Fatal("bad signature")
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/sig")
			})
			b.Run(fmt.Sprintf("batch%s/%d", cached, n), func(b *testing.B) {
				errs := make([]error, n)
				for b.Loop() {
					verifyGroup(d, txs, errs, keys)
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/sig")
			})
		}
	}
}
