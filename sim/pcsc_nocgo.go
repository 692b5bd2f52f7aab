//go:build !cgo

package sim

import (
	"context"
	"fmt"
)

// BuiltinReaders names the readers built into this binary. This build has
// no cgo, so the PC/SC reader is left out: "modem" and "config".
func BuiltinReaders() []string {
	return []string{string(SourceModem), string(SourceConfig)}
}

// ListPCSCReaders returns ErrNotBuiltIn: PC/SC needs a cgo build.
func ListPCSCReaders(ctx context.Context) ([]PCSCReaderState, error) {
	return nil, fmt.Errorf("pcsc: %w (built without cgo)", ErrNotBuiltIn)
}

// ReadIdentity returns ErrNotBuiltIn: PC/SC needs a cgo build.
func (r *PCSCReader) ReadIdentity(ctx context.Context) (Identity, error) {
	return Identity{}, fmt.Errorf("pcsc %q: %w (built without cgo)", r.Reader, ErrNotBuiltIn)
}
