//go:build corpusgen

package transport

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriteFuzzCorpus regenerates the committed seed corpus of
// FuzzDecodeAttach (the keys are FuzzDecodeAttach's fixed ones):
// go test -tags corpusgen -run TestWriteFuzzCorpus ./consensus/runtime/transport
func TestWriteFuzzCorpus(t *testing.T) {
	replica := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	conn := ed25519.NewKeyFromSeed(append(make([]byte, ed25519.SeedSize-1), 1))
	one, err := encodeAttach(testDomain, []ed25519.PrivateKey{conn}, pub(replica), pub(conn))
	if err != nil {
		t.Fatal(err)
	}
	two, err := encodeAttach(testDomain, []ed25519.PrivateKey{conn, replica}, pub(replica), pub(conn))
	if err != nil {
		t.Fatal(err)
	}
	badSig := append([]byte{}, one...)
	badSig[len(badSig)-1] ^= 1
	seeds := map[string][]byte{
		"valid-one":       one,
		"valid-two":       two,
		"bad-signature":   badSig,
		"truncated":       one[:len(one)-7],
		"trailing":        append(append([]byte{}, one...), 0),
		"version-2":       append([]byte{2}, one[1:]...),
		"no-identities":   {1, 0, 0, 0, 0},
		"too-many":        {1, 0xff, 0xff, 0xff, 0xff},
		"count-too-large": {1, 0, 0, 0, 2},
		"empty":           {},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeAttach")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
