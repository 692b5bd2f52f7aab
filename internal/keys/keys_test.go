package keys

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadRoundTripAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	path := filepath.Join(dir, "node.key")
	priv, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, priv); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, priv); err == nil {
		t.Fatal("Save overwrote an existing key")
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Fatal("loaded key differs from saved key")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Load of a world-readable key: %v", err)
	}
}

func TestAccountIDChecksum(t *testing.T) {
	priv, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	id := AccountID(pub)
	back, err := ParseAccountID(id)
	if err != nil || !back.Equal(priv.Public()) {
		t.Fatalf("ParseAccountID(%s) = %v, %v", id, back, err)
	}
	// Flip one character: the checksum must catch it.
	b := []byte(id)
	i := len(accountPrefix) + 3
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	if _, err := ParseAccountID(string(b)); err == nil {
		t.Fatal("a one-character typo passed the checksum")
	}
	for _, bad := range []string{"", "x402_", "btc_" + id[5:], id + "a", id[:len(id)-1]} {
		if _, err := ParseAccountID(bad); err == nil {
			t.Errorf("ParseAccountID(%q) accepted", bad)
		}
	}
}
