package sim

import "fmt"

// threeDigitMNC reports whether networks of the mobile country code mcc use
// 3-digit MNCs (ITU-T E.212 assignments: North America and the Caribbean,
// Mexico, India's 405 blocks, parts of Central and South America). It is the
// fallback for when EF_AD cannot be read.
func threeDigitMNC(mcc string) bool {
	switch mcc {
	case "302", // Canada
		"310", "311", "312", "313", "314", "315", "316", // USA
		"334", // Mexico
		"338", // Jamaica
		"342", // Barbados
		"344", // Antigua and Barbuda
		"346", // Cayman Islands
		"348", // British Virgin Islands
		"354", // Montserrat
		"356", // Saint Kitts and Nevis
		"358", // Saint Lucia
		"360", // Saint Vincent and the Grenadines
		"365", // Anguilla
		"376", // Turks and Caicos Islands
		"405", // India (405xxx blocks)
		"708", // Honduras
		"722", // Argentina
		"732", // Colombia
		"750": // Falkland Islands
		return true
	}
	return false
}

// MNCLengthFromAD returns the MNC length (2 or 3) recorded in EF_AD (6FAD)
// byte 4, low nibble (TS 31.102 §4.2.18), and false when the file is too
// short or the value is not 2 or 3.
func MNCLengthFromAD(ad []byte) (int, bool) {
	if len(ad) < 4 {
		return 0, false
	}
	switch n := int(ad[3] & 0x0F); n {
	case 2, 3:
		return n, true
	}
	return 0, false
}

// SplitIMSI returns the IMSI's MCC (first three digits) and MNC. mncLen is
// the MNC length from EF_AD; when it is not 2 or 3 the length comes from the
// 3-digit-MNC country table, else 2. imsi must be valid (see ValidateIMSI).
func SplitIMSI(imsi string, mncLen int) (mcc, mnc string) {
	if len(imsi) < 6 {
		return "", ""
	}
	mcc = imsi[:3]
	if mncLen != 2 && mncLen != 3 {
		mncLen = 2
		if threeDigitMNC(mcc) {
			mncLen = 3
		}
	}
	return mcc, imsi[3 : 3+mncLen]
}

// validateMCCMNC checks a 3-digit MCC and a 2- or 3-digit MNC.
func validateMCCMNC(mcc, mnc string) error {
	if len(mcc) != 3 || !allDigits(mcc) {
		return fmt.Errorf("%w: MCC %q must be 3 digits", ErrMalformed, mcc)
	}
	if (len(mnc) != 2 && len(mnc) != 3) || !allDigits(mnc) {
		return fmt.Errorf("%w: MNC %q must be 2 or 3 digits", ErrMalformed, mnc)
	}
	return nil
}
