package sim

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// valueAfter returns the text after "prefix:" on line (trimmed, quotes
// removed), when line starts with one of the prefixes (case-insensitive).
func valueAfter(line string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if len(line) > len(p) && strings.EqualFold(line[:len(p)], p) && line[len(p)] == ':' {
			return strings.Trim(strings.TrimSpace(line[len(p)+1:]), `"`), true
		}
	}
	return "", false
}

// extractIMSI finds the IMSI in an AT+CIMI answer: a line of 6 to 15 digits,
// optionally prefixed "+CIMI:". Other lines (URCs) are ignored.
func extractIMSI(lines []string) (string, error) {
	for _, l := range lines {
		v := l
		if after, ok := valueAfter(l, "+CIMI"); ok {
			v = after
		}
		if ValidateIMSI(v) == nil {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: no IMSI in answer %q", ErrMalformed, lines)
}

// extractICCID finds the ICCID in the answer to an ICCID command: a line
// with one of the prefixes, or (when bare is set) a line that is the ICCID
// alone.
func extractICCID(lines []string, bare bool, prefixes ...string) (string, error) {
	for _, l := range lines {
		v, ok := valueAfter(l, prefixes...)
		if !ok {
			if !bare || len(l) < iccidMinDigits || !isHexDigits(l) {
				continue
			}
			v = l
		}
		return normalizeICCID(v)
	}
	return "", fmt.Errorf("%w: no ICCID in answer %q", ErrMalformed, lines)
}

// normalizeICCID turns a modem's ICCID text into digits. Modems answer
// either the ICCID itself (89...) or, like Huawei's ^ICCID, the raw
// nibble-swapped EF_ICCID bytes (98...); ICCIDs begin with the telecom
// industry identifier 89 (ITU-T E.118), so a value starting 98 is swapped.
// F padding is stripped.
func normalizeICCID(v string) (string, error) {
	v = strings.ToUpper(strings.TrimSpace(v))
	if !isHexDigits(v) {
		return "", fmt.Errorf("%w: ICCID %q is not hex digits", ErrMalformed, v)
	}
	if strings.HasPrefix(v, "98") && len(v)%2 == 0 {
		b := []byte(v)
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
		v = string(b)
	}
	v = strings.TrimRight(v, "F")
	if err := ValidateICCID(v); err != nil {
		return "", err
	}
	return v, nil
}

// isHexDigits reports whether s is non-empty and all hex digits.
func isHexDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseCRSM reads a "+CRSM: sw1,sw2[,"hex"]" answer (TS 27.007 §8.18) and
// returns the data when the status words mean success.
func parseCRSM(cmd string, lines []string) ([]byte, error) {
	for _, l := range lines {
		v, ok := valueAfter(l, "+CRSM")
		if !ok {
			continue
		}
		parts := strings.SplitN(v, ",", 3)
		if len(parts) < 2 {
			return nil, fmt.Errorf("%w: %s: answer %q lacks status words", ErrMalformed, cmd, l)
		}
		sw1, err1 := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 8)
		sw2, err2 := strconv.ParseUint(strings.TrimSpace(parts[1]), 10, 8)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: %s: bad status words in %q", ErrMalformed, cmd, l)
		}
		sw := uint16(sw1)<<8 | uint16(sw2)
		if !swSuccess(sw) {
			return nil, &StatusError{Command: cmd, SW: sw}
		}
		if len(parts) < 3 {
			return nil, fmt.Errorf("%w: %s: answer %q has no data", ErrMalformed, cmd, l)
		}
		data, err := hex.DecodeString(strings.Trim(strings.TrimSpace(parts[2]), `"`))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: data in %q: %w", ErrMalformed, cmd, l, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("%w: %s: no +CRSM line in answer %q", ErrMalformed, cmd, lines)
}
