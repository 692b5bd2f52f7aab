//go:build !cgo

package sim

import (
	"errors"
	"slices"
	"testing"
)

func TestPCSCLeftOutWithoutCgo(t *testing.T) {
	if slices.Contains(BuiltinReaders(), "pcsc") || !slices.Contains(BuiltinReaders(), "modem") {
		t.Fatalf("BuiltinReaders() = %v without cgo", BuiltinReaders())
	}
	if _, err := ListPCSCReaders(t.Context()); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("ListPCSCReaders: %v", err)
	}
	if _, err := (&PCSCReader{}).ReadIdentity(t.Context()); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("ReadIdentity: %v", err)
	}
}
