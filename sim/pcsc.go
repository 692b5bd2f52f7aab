package sim

import "log/slog"

// PCSCReader reads the SIM in a PC/SC smart-card reader through pcsc-lite.
// It is built only with cgo; without cgo its methods return ErrNotBuiltIn.
type PCSCReader struct {
	// Reader is the PC/SC reader name; empty means the first reader that
	// holds a card.
	Reader string
	// Logger receives debug traces of the APDU exchange (IMSI and ICCID
	// bytes included, so keep it at debug level); nil discards them.
	Logger *slog.Logger
}

// PCSCReaderState is one PC/SC reader and whether it holds a card.
type PCSCReaderState struct {
	Name        string
	CardPresent bool
}
