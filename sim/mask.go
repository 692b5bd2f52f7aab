package sim

import "strings"

// MaskIMSI hides the subscriber part of an IMSI, keeping the first five
// digits (MCC and a 2-digit MNC, public anyway) and the last two:
// 262011106487504 becomes 26201********04.
func MaskIMSI(imsi string) string {
	return mask(imsi, 5, 2)
}

// MaskICCID hides an ICCID's serial number, keeping the first four digits
// (industry and country code) and the last two.
func MaskICCID(iccid string) string {
	return mask(iccid, 4, 2)
}

// mask replaces all but the first keepHead and last keepTail characters of s
// with '*'; a string too short to keep anything is masked entirely.
func mask(s string, keepHead, keepTail int) string {
	if len(s) <= keepHead+keepTail+2 {
		return strings.Repeat("*", len(s))
	}
	return s[:keepHead] + strings.Repeat("*", len(s)-keepHead-keepTail) + s[len(s)-keepTail:]
}
