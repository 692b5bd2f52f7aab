//go:build corpusgen

package pbft

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriteFuzzCorpus regenerates the committed seed corpus:
// go test -tags corpusgen -run TestWriteFuzzCorpus ./consensus/pbft
func TestWriteFuzzCorpus(t *testing.T) {
	for _, name := range []string{"FuzzDecodeMessage", "FuzzStepMessage"} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, m := range sampleMessages() {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(Encode(m))) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+m.Kind().String()), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeReplyGroup")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range sampleReplyGroups(t) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+strconv.Itoa(i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
