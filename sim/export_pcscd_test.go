//go:build cgo

package sim

import (
	"testing"

	"github.com/x402/x402/sim/internal/vicc"
)

// Test helpers for package sim_test (register_test.go), which drives the
// ledger and so cannot be package sim (the ledger imports sim). Its tests
// run in this test binary, serially with the other pcscd tests, which
// share vpcd's ports.

// VPCDReader0 is vpcd's first slot's reader name.
const VPCDReader0 = vpcdReader0

// StartPCSCDForTest is startPCSCD.
func StartPCSCDForTest(t *testing.T) int { return startPCSCD(t) }

// InsertCardForTest is insertCard.
func InsertCardForTest(t *testing.T, port, slot int, cfg vicc.Config) <-chan error {
	return insertCard(t, port, slot, cfg)
}

// EmulatedUSIM is the emulated USIM of the card tests: IMSI 262011106487504,
// ICCID 8949020000123456789, a 2-digit MNC.
func EmulatedUSIM() vicc.Config {
	return vicc.Config{Kind: vicc.USIM, T1: true, ICCID: efICCID, IMSI: efIMSI, AD: efAD2}
}
