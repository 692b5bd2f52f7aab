package pay

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Asset names a ledger asset.
type Asset string

// The ledger's assets.
const (
	USD  Asset = "USD"  // a USD stablecoin
	X402 Asset = "X402" // the network's native token
)

// Valid reports whether a is a known asset.
func (a Asset) Valid() bool { return a == USD || a == X402 }

// Nano is the number of nano-units in one unit of any asset.
const Nano = 1_000_000_000

// Amount is a quantity of an asset in nano-units (10^-9). Money is never a
// float: 0.0001 USD is exactly Amount(100000).
type Amount uint64

// Add returns a+b, or an error on overflow.
func (a Amount) Add(b Amount) (Amount, error) {
	s, carry := bits.Add64(uint64(a), uint64(b), 0)
	if carry != 0 {
		return 0, errors.New("amount overflow")
	}
	return Amount(s), nil
}

// Sub returns a-b, or an error if b > a.
func (a Amount) Sub(b Amount) (Amount, error) {
	if b > a {
		return 0, fmt.Errorf("amount %s is less than %s", a, b)
	}
	return a - b, nil
}

// String formats a as a decimal number of units, without trailing zeros:
// Amount(100000) is "0.0001".
func (a Amount) String() string {
	whole, frac := uint64(a)/Nano, uint64(a)%Nano
	if frac == 0 {
		return strconv.FormatUint(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%09d", frac), "0")
	return strconv.FormatUint(whole, 10) + "." + f
}

// Format writes a with its asset, e.g. "0.0001 USD".
func (a Amount) Format(asset Asset) string { return a.String() + " " + string(asset) }

// ParseAmount parses a decimal number of units ("1", "0.0001",
// "12.000000001") exactly; more than 9 decimals or a value that does not
// fit is an error.
func ParseAmount(s string) (Amount, error) {
	whole, frac, hasFrac := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" && !hasFrac || !allDigits(whole) || hasFrac && (frac == "" || !allDigits(frac)) {
		return 0, fmt.Errorf("amount %q: not a decimal number", s)
	}
	if len(frac) > 9 {
		return 0, fmt.Errorf("amount %q: more than 9 decimals (1 nano-unit is the smallest amount)", s)
	}
	w := uint64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil || w > math.MaxUint64/Nano {
			return 0, fmt.Errorf("amount %q: too large", s)
		}
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	total, carry := bits.Add64(w*Nano, f, 0)
	if carry != 0 {
		return 0, fmt.Errorf("amount %q: too large", s)
	}
	return Amount(total), nil
}

// ParseAssetAmount parses "0.0001 USD" or "0.0001USD".
func ParseAssetAmount(s string) (Amount, Asset, error) {
	s = strings.TrimSpace(s)
	for _, asset := range []Asset{X402, USD} {
		if num, ok := strings.CutSuffix(s, string(asset)); ok {
			a, err := ParseAmount(num)
			if err != nil {
				return 0, "", err
			}
			return a, asset, nil
		}
	}
	return 0, "", fmt.Errorf("amount %q: asset must be %s or %s", s, USD, X402)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// GiB is 2^30 bytes, the unit prices are quoted in.
const GiB = 1 << 30

// OwedForBytes is floor(bytes × pricePerGiB / 2^30), computed with a 128-bit
// intermediate so it never overflows; the result saturates at the largest
// Amount.
func OwedForBytes(bytes uint64, pricePerGiB Amount) Amount {
	hi, lo := bits.Mul64(bytes, uint64(pricePerGiB))
	if hi >= GiB {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, GiB)
	return Amount(q)
}

// FeeFor is floor(amount × ppm / 10^6), the ledger's fee in parts per
// million, with a 128-bit intermediate.
func FeeFor(amount Amount, ppm uint32) Amount {
	if ppm > 1_000_000 {
		ppm = 1_000_000 // a fee never exceeds the amount
	}
	// amount × ppm < 2^64 × 10^6, so the quotient fits and Div64 cannot panic.
	hi, lo := bits.Mul64(uint64(amount), uint64(ppm))
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return Amount(q)
}
