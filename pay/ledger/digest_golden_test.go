package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/x402/x402/pay"
)

// TestStateDigestAndSnapshotAreStable pins the state digest and the
// snapshot encoding of a fixed ledger: replicas compare digests at every
// checkpoint and keep snapshots in their state files, so neither may change
// by accident (a faster way to compute them must give the same bytes).
func TestStateDigestAndSnapshotAreStable(t *testing.T) {
	g := testGenesis()
	for i := range 3000 {
		var seed [ed25519.SeedSize]byte
		binary.BigEndian.PutUint64(seed[:], uint64(i)+1)
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		g.Allocations = append(g.Allocations, Allocation{Account: pay.AccountOf(pub), Asset: usd, Amount: pay.Nano + pay.Amount(i)})
	}
	l := openTest(t, g)
	d := l.Digest()
	s, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	const (
		wantDigest   = "d72134bae0b0db7046aa36489c81a0b1ceec1fe49f77af3c08b7989693feffbd"
		wantSnapshot = "40c5d8487ff5cb40434e4d08f38a5849c1540754e6e7c27389cb7820eeee9dff"
	)
	sum := sha256.Sum256(s)
	if got := hex.EncodeToString(d[:]); got != wantDigest {
		t.Errorf("state digest %s, want %s", got, wantDigest)
	}
	if got := hex.EncodeToString(sum[:]); got != wantSnapshot || len(s) != 294663 {
		t.Errorf("snapshot of %d bytes hashes to %s, want 294663 bytes hashing to %s", len(s), got, wantSnapshot)
	}
}
