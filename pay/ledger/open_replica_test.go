package ledger

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/x402/x402/pay"
)

// TestOpenReplicaStartsFromGenesis: a replica's ledger file is a cache the
// consensus core rebuilds, so opening it resets it to the genesis state;
// an unreadable file is made again, and a file of another genesis is still
// refused.
func TestOpenReplicaStartsFromGenesis(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	fresh := openTest(t, g).Digest()

	path := filepath.Join(dir, "ledger.db")
	l, err := OpenReplica(path, g)
	if err != nil {
		t.Fatal(err)
	}
	issuerP.must(t, l, 1, Mint{To: otherP.acct, Asset: pay.X402, Amount: 7})
	if l.Digest() == fresh {
		t.Fatal("the mint changed nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenReplica(path, g)
	if err != nil {
		t.Fatal(err)
	}
	if l.Digest() != fresh {
		t.Fatal("reopened replica ledger is not at genesis")
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	l.Close()

	if err := os.WriteFile(path, []byte(strings.Repeat("torn page ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = OpenReplica(path, g)
	if err != nil {
		t.Fatalf("unreadable cache not made again: %v", err)
	}
	if l.Digest() != fresh {
		t.Fatal("remade replica ledger is not at genesis")
	}
	l.Close()

	other := testGenesis()
	other.FeePPM++
	if _, err := OpenReplica(path, other); err == nil || !strings.Contains(err.Error(), "different genesis") {
		t.Fatalf("file of another genesis: %v", err)
	}
	if l, err := OpenReplica(path, g); err != nil {
		t.Fatalf("the refusal damaged the file: %v", err)
	} else {
		l.Close()
	}
}
