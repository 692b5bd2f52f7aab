package sim

import (
	"context"
	"fmt"
	"log/slog"
)

// SourceKind names the kind of device an identity was read from.
type SourceKind string

// The sources an identity can come from.
const (
	// SourcePCSC is a SIM card in a PC/SC smart-card reader.
	SourcePCSC SourceKind = "pcsc"
	// SourceModem is a SIM behind a cellular modem's AT command port.
	SourceModem SourceKind = "modem"
	// SourceConfig is an identity configured by the operator, not read
	// from any SIM.
	SourceConfig SourceKind = "config"
)

// valid reports whether k is one of the known source kinds.
func (k SourceKind) valid() bool {
	switch k {
	case SourcePCSC, SourceModem, SourceConfig:
		return true
	}
	return false
}

// Source says where an identity was read: the kind of device and its name
// (the PC/SC reader name or the modem's device path).
type Source struct {
	Kind SourceKind
	Name string
}

// SIMAnchored reports whether the identity was read from a physical SIM.
func (s Source) SIMAnchored() bool {
	return s.Kind == SourcePCSC || s.Kind == SourceModem
}

// String returns "kind:name", or just the kind when there is no name.
func (s Source) String() string {
	if s.Name == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + ":" + s.Name
}

// Identity is what a Reader returns: the SIM's subscriber and card numbers,
// the network it belongs to, and where it was read.
//
// IMSI and ICCID are secrets of the device: String and LogValue mask them,
// and a Claim carries only keyed hashes of them.
type Identity struct {
	// IMSI is the International Mobile Subscriber Identity, 6 to 15 digits.
	IMSI string
	// ICCID is the SIM card's serial number, 10 to 20 digits.
	ICCID string
	// MCC is the mobile country code, the IMSI's first three digits.
	MCC string
	// MNC is the mobile network code, the two or three digits after the MCC.
	MNC string
	// Source is the device the identity was read from.
	Source Source
}

// Validate checks that every field is well formed and that MCC and MNC are
// the IMSI's prefix.
func (id Identity) Validate() error {
	if err := ValidateIMSI(id.IMSI); err != nil {
		return err
	}
	if err := ValidateICCID(id.ICCID); err != nil {
		return err
	}
	if err := validateMCCMNC(id.MCC, id.MNC); err != nil {
		return err
	}
	if id.IMSI[:len(id.MCC)+len(id.MNC)] != id.MCC+id.MNC {
		return fmt.Errorf("%w: MCC/MNC %s/%s is not the IMSI's prefix", ErrMalformed, id.MCC, id.MNC)
	}
	if !id.Source.Kind.valid() {
		return fmt.Errorf("%w: unknown source kind %q", ErrMalformed, id.Source.Kind)
	}
	return nil
}

// String describes the identity with the IMSI and ICCID masked.
func (id Identity) String() string {
	return fmt.Sprintf("IMSI %s ICCID %s MCC/MNC %s/%s from %s",
		MaskIMSI(id.IMSI), MaskICCID(id.ICCID), id.MCC, id.MNC, id.Source)
}

// LogValue logs the identity with the IMSI and ICCID masked.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("imsi", MaskIMSI(id.IMSI)),
		slog.String("iccid", MaskICCID(id.ICCID)),
		slog.String("mcc", id.MCC),
		slog.String("mnc", id.MNC),
		slog.String("source", id.Source.String()),
	)
}

// Reader reads the identity of one SIM (or configured identity).
type Reader interface {
	// ReadIdentity reads and validates the identity. It honours ctx for
	// cancellation and deadlines.
	ReadIdentity(ctx context.Context) (Identity, error)
}

// newIdentity assembles and validates an identity from the raw values a
// reader found. mncLen is the MNC length from EF_AD, or 0 when unknown.
func newIdentity(imsi, iccid string, mncLen int, src Source) (Identity, error) {
	if err := ValidateIMSI(imsi); err != nil {
		return Identity{}, err
	}
	mcc, mnc := SplitIMSI(imsi, mncLen)
	id := Identity{IMSI: imsi, ICCID: iccid, MCC: mcc, MNC: mnc, Source: src}
	if err := id.Validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// nopLogger returns l, or a logger that discards everything when l is nil.
func nopLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
