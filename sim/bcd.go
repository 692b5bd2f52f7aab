package sim

import (
	"fmt"
	"strings"
)

// EF sizes and limits from 3GPP TS 31.102 / 51.011 and ITU-T E.118.
const (
	imsiMinDigits  = 6
	imsiMaxDigits  = 15
	iccidMinDigits = 10
	iccidMaxDigits = 20
	efIMSIMaxLen   = 8 // value of EF_IMSI's length byte
	imsiParityType = 0x1
)

// DecodeIMSI decodes the contents of EF_IMSI (6F07) per 3GPP TS 31.102
// §4.2.2 / TS 51.011 §10.3.2: a length byte, then nibble-swapped BCD whose
// first nibble is the parity/type nibble (type 001 = IMSI, bit 4 set for an
// odd number of digits) and whose last nibble is an F filler when the count
// is even. Bytes after the declared length are ignored. For example
// 08 29 26 10 11 60 84 57 40 decodes to 262011106487504.
func DecodeIMSI(b []byte) (string, error) {
	if len(b) < 2 {
		return "", fmt.Errorf("%w: EF_IMSI has %d bytes, want at least 2", ErrMalformed, len(b))
	}
	n := int(b[0])
	if n == 0xFF {
		return "", fmt.Errorf("%w: EF_IMSI is empty (not provisioned)", ErrMalformed)
	}
	if n < 1 || n > efIMSIMaxLen {
		return "", fmt.Errorf("%w: EF_IMSI length byte %d out of range 1..%d", ErrMalformed, n, efIMSIMaxLen)
	}
	if len(b)-1 < n {
		return "", fmt.Errorf("%w: EF_IMSI truncated: length byte %d but %d bytes follow", ErrMalformed, n, len(b)-1)
	}
	body := b[1 : 1+n]
	if body[0]&0x7 != imsiParityType {
		return "", fmt.Errorf("%w: EF_IMSI identity type %d, want 1 (IMSI)", ErrMalformed, body[0]&0x7)
	}
	odd := body[0]&0x8 != 0
	// Nibbles in order: high nibble of the first byte, then low/high of
	// every following byte.
	nibbles := make([]byte, 0, 2*n-1)
	nibbles = append(nibbles, body[0]>>4)
	for _, c := range body[1:] {
		nibbles = append(nibbles, c&0xF, c>>4)
	}
	if !odd {
		if nibbles[len(nibbles)-1] != 0xF {
			return "", fmt.Errorf("%w: EF_IMSI parity says even digit count but the last nibble is %X, not the F filler", ErrMalformed, nibbles[len(nibbles)-1])
		}
		nibbles = nibbles[:len(nibbles)-1]
	}
	imsi, err := nibblesToDigits(nibbles)
	if err != nil {
		return "", fmt.Errorf("EF_IMSI: %w", err)
	}
	if err := ValidateIMSI(imsi); err != nil {
		return "", fmt.Errorf("EF_IMSI: %w", err)
	}
	return imsi, nil
}

// DecodeICCID decodes the contents of EF_ICCID (2FE2): BCD with the nibbles
// of each byte swapped and trailing F nibbles as padding (TS 31.102 §13.2,
// ITU-T E.118).
func DecodeICCID(b []byte) (string, error) {
	nibbles := make([]byte, 0, 2*len(b))
	for _, c := range b {
		nibbles = append(nibbles, c&0xF, c>>4)
	}
	for len(nibbles) > 0 && nibbles[len(nibbles)-1] == 0xF {
		nibbles = nibbles[:len(nibbles)-1]
	}
	if len(nibbles) == 0 {
		return "", fmt.Errorf("%w: EF_ICCID is empty", ErrMalformed)
	}
	iccid, err := nibblesToDigits(nibbles)
	if err != nil {
		return "", fmt.Errorf("EF_ICCID: %w", err)
	}
	if err := ValidateICCID(iccid); err != nil {
		return "", fmt.Errorf("EF_ICCID: %w", err)
	}
	return iccid, nil
}

// nibblesToDigits turns BCD nibbles into a digit string, rejecting A-F.
func nibblesToDigits(nibbles []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(nibbles))
	for i, d := range nibbles {
		if d > 9 {
			return "", fmt.Errorf("%w: non-decimal nibble %X at digit %d", ErrMalformed, d, i+1)
		}
		sb.WriteByte('0' + d)
	}
	return sb.String(), nil
}

// ValidateIMSI checks that s is an IMSI: 6 to 15 decimal digits.
func ValidateIMSI(s string) error {
	if len(s) < imsiMinDigits || len(s) > imsiMaxDigits || !allDigits(s) {
		return fmt.Errorf("%w: IMSI must be %d to %d digits, got %d characters", ErrMalformed, imsiMinDigits, imsiMaxDigits, len(s))
	}
	return nil
}

// ValidateICCID checks that s is an ICCID: 10 to 20 decimal digits.
func ValidateICCID(s string) error {
	if len(s) < iccidMinDigits || len(s) > iccidMaxDigits || !allDigits(s) {
		return fmt.Errorf("%w: ICCID must be %d to %d digits, got %d characters", ErrMalformed, iccidMinDigits, iccidMaxDigits, len(s))
	}
	return nil
}

// allDigits reports whether s is non-empty and all ASCII decimal digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
