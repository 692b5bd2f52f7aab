package sim

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeIMSI(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"spec vector, 15 digits", []byte{0x08, 0x29, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40}, "262011106487504"},
		{"14 digits with F filler", []byte{0x08, 0x31, 0x01, 0x61, 0x02, 0x20, 0x41, 0x63, 0xF5}, "31016200214365"},
		{"trailing unused bytes ignored", []byte{0x08, 0x29, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40, 0xFF, 0xFF}, "262011106487504"},
		{"short IMSI", []byte{0x04, 0x29, 0x26, 0x10, 0x11, 0xFF, 0xFF, 0xFF, 0xFF}, "2620111"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeIMSI(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("DecodeIMSI(% X) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDecodeIMSIErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"empty", nil, "at least 2"},
		{"not provisioned", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "not provisioned"},
		{"length byte too big", []byte{0x09, 0x29, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40, 0x00}, "out of range"},
		{"length byte zero", []byte{0x00, 0x29}, "out of range"},
		{"truncated", []byte{0x08, 0x29, 0x26, 0x10}, "truncated"},
		{"wrong identity type", []byte{0x08, 0x2A, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40}, "identity type"},
		{"even parity without filler", []byte{0x08, 0x21, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40}, "parity"},
		{"hex digit", []byte{0x08, 0x29, 0x26, 0x10, 0x1B, 0x60, 0x84, 0x57, 0x40}, "non-decimal"},
		{"too few digits", []byte{0x02, 0x29, 0x26}, "IMSI must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeIMSI(tt.in)
			if err == nil {
				t.Fatalf("DecodeIMSI(% X) = %q, want error", tt.in, got)
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("DecodeIMSI(% X) error %q, want ErrMalformed mentioning %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestDecodeICCID(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0x98, 0x94, 0x20, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87, 0xF9}, "8949020000123456789"},
		{[]byte{0x98, 0x10, 0x14, 0x30, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87}, "89014103000012345678"},
		{[]byte{0x98, 0x94, 0x20, 0x00, 0x00, 0x21, 0x43, 0xF5, 0xFF, 0xFF}, "894902000012345"},
	}
	for _, tt := range tests {
		got, err := DecodeICCID(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("DecodeICCID(% X) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDecodeICCIDErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"all padding", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "empty"},
		{"empty", nil, "empty"},
		{"hex nibble", []byte{0x98, 0x94, 0x20, 0x0A, 0x00, 0x21, 0x43, 0x65, 0x87, 0xF9}, "non-decimal"},
		{"F in the middle", []byte{0x98, 0x94, 0xF0, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87, 0xF9}, "non-decimal"},
		{"too short", []byte{0x98, 0x94, 0x20}, "ICCID must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeICCID(tt.in)
			if err == nil {
				t.Fatalf("DecodeICCID(% X) = %q, want error", tt.in, got)
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("DecodeICCID(% X) error %q, want ErrMalformed mentioning %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestSplitIMSI(t *testing.T) {
	tests := []struct {
		imsi     string
		mncLen   int
		mcc, mnc string
	}{
		{"262011106487504", 0, "262", "01"},
		{"262011106487504", 2, "262", "01"},
		{"310260123456789", 0, "310", "260"},
		{"310260123456789", 3, "310", "260"},
		{"405854123456789", 0, "405", "854"},
		{"234150123456789", 3, "234", "150"}, // EF_AD overrides the table
		{"310260123456789", 2, "310", "26"},
		{"722070123456789", 7, "722", "070"}, // bad EF_AD value: table
	}
	for _, tt := range tests {
		mcc, mnc := SplitIMSI(tt.imsi, tt.mncLen)
		if mcc != tt.mcc || mnc != tt.mnc {
			t.Errorf("SplitIMSI(%s, %d) = %s/%s, want %s/%s", tt.imsi, tt.mncLen, mcc, mnc, tt.mcc, tt.mnc)
		}
	}
}

func TestMNCLengthFromAD(t *testing.T) {
	tests := []struct {
		ad   []byte
		n    int
		okay bool
	}{
		{[]byte{0x00, 0x00, 0x00, 0x02}, 2, true},
		{[]byte{0x00, 0x00, 0x00, 0x03}, 3, true},
		{[]byte{0x00, 0x00, 0x00, 0xF3, 0xFF}, 3, true},
		{[]byte{0x00, 0x00, 0x00, 0x04}, 0, false},
		{[]byte{0x00, 0x00, 0x00}, 0, false},
	}
	for _, tt := range tests {
		n, ok := MNCLengthFromAD(tt.ad)
		if n != tt.n || ok != tt.okay {
			t.Errorf("MNCLengthFromAD(% X) = %d, %v; want %d, %v", tt.ad, n, ok, tt.n, tt.okay)
		}
	}
}

func TestMask(t *testing.T) {
	if got := MaskIMSI("262011106487504"); got != "26201********04" {
		t.Errorf("MaskIMSI = %q", got)
	}
	if got := MaskICCID("8949020000123456789"); got != "8949*************89" {
		t.Errorf("MaskICCID = %q", got)
	}
	if got := MaskIMSI("12345"); got != "*****" {
		t.Errorf("MaskIMSI(short) = %q", got)
	}
}

func TestIdentityNeverPrintsSecrets(t *testing.T) {
	id, err := ConfigReader{IMSI: "262011106487504", ICCID: "8949020000123456789"}.ReadIdentity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{id.String(), id.LogValue().String()} {
		if strings.Contains(s, id.IMSI) || strings.Contains(s, id.ICCID) {
			t.Errorf("%q reveals IMSI or ICCID", s)
		}
	}
}
