package sim

import (
	"errors"
	"strings"
	"testing"

	"github.com/x402/x402/sim/internal/vicc"
)

// EF contents used by the emulated cards.
var (
	efICCID    = []byte{0x98, 0x94, 0x20, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87, 0xF9} // 8949020000123456789
	efIMSI     = []byte{0x08, 0x29, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40}       // 262011106487504
	efIMSIUS   = []byte{0x08, 0x39, 0x01, 0x62, 0x10, 0x32, 0x54, 0x76, 0x98}       // 310260123456789
	efIMSIUK   = []byte{0x08, 0x29, 0x43, 0x51, 0x10, 0x32, 0x54, 0x76, 0x98}       // 234150123456789
	efAD2      = []byte{0x00, 0x00, 0x00, 0x02}
	efAD3      = []byte{0x00, 0x00, 0x00, 0x03}
	wantICCID  = "8949020000123456789"
	wantIMSI   = "262011106487504"
	wantIMSIUS = "310260123456789"
	wantIMSIUK = "234150123456789"
)

// cardCase is an emulated card and what reading it must give.
type cardCase struct {
	name string
	cfg  vicc.Config
	// For a successful read:
	imsi, mcc, mnc string
	// For a failing read: the error must match is (if set) and mention msg.
	is  error
	msg string
}

// cardCases are run in-process and through pcscd.
func cardCases() []cardCase {
	usim := func(t1 bool) vicc.Config {
		return vicc.Config{Kind: vicc.USIM, T1: t1, ICCID: efICCID, IMSI: efIMSI, AD: efAD2}
	}
	sim2g := vicc.Config{Kind: vicc.SIM2G, ICCID: efICCID, IMSI: efIMSI, AD: efAD2}
	with := func(c vicc.Config, f func(*vicc.Config)) vicc.Config { f(&c); return c }
	return []cardCase{
		{name: "USIM T=1", cfg: usim(true), imsi: wantIMSI, mcc: "262", mnc: "01"},
		{name: "USIM T=0 GET RESPONSE", cfg: usim(false), imsi: wantIMSI, mcc: "262", mnc: "01"},
		{name: "2G SIM 9Fxx", cfg: sim2g, imsi: wantIMSI, mcc: "262", mnc: "01"},
		{name: "UICC without USIM falls back to DF_GSM", cfg: with(usim(false), func(c *vicc.Config) { c.NoUSIMApp = true }), imsi: wantIMSI, mcc: "262", mnc: "01"},
		{name: "T=0 6Cxx resend for EF_AD without size", cfg: with(usim(false), func(c *vicc.Config) {
			c.IMSI, c.AD, c.Faults.OmitFileSize = efIMSIUK, efAD3, true
		}), imsi: wantIMSIUK, mcc: "234", mnc: "150"},
		{name: "T=1 6282 short EF_AD without size", cfg: with(usim(true), func(c *vicc.Config) {
			c.IMSI, c.AD, c.Faults.OmitFileSize = efIMSIUK, efAD3, true
		}), imsi: wantIMSIUK, mcc: "234", mnc: "150"},
		{name: "3-digit MNC from table without EF_AD", cfg: with(usim(true), func(c *vicc.Config) { c.IMSI, c.AD = efIMSIUS, nil }), imsi: wantIMSIUS, mcc: "310", mnc: "260"},
		{name: "2G SIM without EF_AD", cfg: with(sim2g, func(c *vicc.Config) { c.IMSI, c.AD = efIMSIUS, nil }), imsi: wantIMSIUS, mcc: "310", mnc: "260"},

		{name: "wrong status word on EF_IMSI", cfg: with(usim(false), func(c *vicc.Config) {
			c.Faults.ReadSW = map[uint16]uint16{0x6F07: 0x6F00}
		}), msg: "READ BINARY EF_IMSI: card answered 6F00"},
		{name: "USIM PIN required", cfg: with(usim(true), func(c *vicc.Config) {
			c.Faults.ReadSW = map[uint16]uint16{0x6F07: 0x6982}
		}), is: ErrPINRequired, msg: "PIN required"},
		{name: "2G SIM PIN required", cfg: with(sim2g, func(c *vicc.Config) {
			c.Faults.ReadSW = map[uint16]uint16{0x6F07: 0x9804}
		}), is: ErrPINRequired, msg: "9804"},
		{name: "truncated EF_IMSI", cfg: with(usim(true), func(c *vicc.Config) {
			c.Faults.Truncate = map[uint16]int{0x6F07: 4}
		}), is: ErrMalformed, msg: "EF_IMSI truncated"},
		{name: "truncated EF_ICCID", cfg: with(sim2g, func(c *vicc.Config) {
			c.ICCID = efICCID[:3]
		}), is: ErrMalformed, msg: "ICCID must be"},
		{name: "unprovisioned EF_IMSI", cfg: with(usim(false), func(c *vicc.Config) {
			c.IMSI = []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
		}), is: ErrMalformed, msg: "not provisioned"},
		{name: "endless GET RESPONSE", cfg: with(usim(false), func(c *vicc.Config) {
			c.Faults.EndlessGetResponse = true
		}), is: ErrMalformed, msg: "no final status word"},
		{name: "response without status word", cfg: with(usim(true), func(c *vicc.Config) {
			c.Faults.ShortResponse = true
		}), is: ErrMalformed, msg: "no status word"},
		{name: "card removed mid-read", cfg: with(usim(false), func(c *vicc.Config) {
			c.Faults.RemoveAfter = 6
		}), is: ErrCardRemoved, msg: "removed"},
	}
}

// checkCardCase checks a read's outcome against the case.
func checkCardCase(t *testing.T, tc cardCase, id Identity, err error) {
	t.Helper()
	if tc.imsi == "" {
		if err == nil {
			t.Fatalf("read succeeded with %v, want error mentioning %q", id, tc.msg)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Fatalf("error %q does not match %v", err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Fatalf("error %q does not mention %q", err, tc.msg)
		}
		t.Logf("error (as expected): %v", err)
		return
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if id.IMSI != tc.imsi || id.ICCID != wantICCID || id.MCC != tc.mcc || id.MNC != tc.mnc {
		t.Fatalf("read %+v, want IMSI %s ICCID %s MCC/MNC %s/%s", id, tc.imsi, wantICCID, tc.mcc, tc.mnc)
	}
}
