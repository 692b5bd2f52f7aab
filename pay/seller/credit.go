package seller

import (
	"math"
	"math/bits"

	"github.com/x402/x402/pay"
)

// bytesCovered is how many bytes value pays for at pricePerGiB:
// floor(value × 2^30 / price), saturating.
func bytesCovered(value, pricePerGiB pay.Amount) uint64 {
	if pricePerGiB == 0 {
		return math.MaxUint64
	}
	hi, lo := bits.Mul64(uint64(value), pay.GiB)
	if hi >= uint64(pricePerGiB) {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, uint64(pricePerGiB))
	return q
}
