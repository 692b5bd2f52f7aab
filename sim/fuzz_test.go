package sim

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// encodeIMSI is the inverse of DecodeIMSI, for round trips.
func encodeIMSI(imsi string) []byte {
	nibbles := []byte{0x1}
	if len(imsi)%2 == 1 {
		nibbles[0] = 0x9
	}
	for i := 0; i < len(imsi); i++ {
		nibbles = append(nibbles, imsi[i]-'0')
	}
	if len(nibbles)%2 == 1 {
		nibbles = append(nibbles, 0xF)
	}
	out := []byte{byte(len(nibbles) / 2)}
	for i := 0; i < len(nibbles); i += 2 {
		out = append(out, nibbles[i+1]<<4|nibbles[i])
	}
	return out
}

func FuzzDecodeIMSI(f *testing.F) {
	f.Add([]byte{0x08, 0x29, 0x26, 0x10, 0x11, 0x60, 0x84, 0x57, 0x40})
	f.Add([]byte{0x08, 0x31, 0x01, 0x61, 0x02, 0x20, 0x41, 0x63, 0xF5})
	f.Add([]byte{0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		imsi, err := DecodeIMSI(b)
		if err != nil {
			return
		}
		if ValidateIMSI(imsi) != nil {
			t.Fatalf("DecodeIMSI(% X) = invalid %q", b, imsi)
		}
		enc := encodeIMSI(imsi)
		if !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("DecodeIMSI(% X) = %q, which encodes as % X", b, imsi, enc)
		}
		if again, err := DecodeIMSI(enc); err != nil || again != imsi {
			t.Fatalf("round trip of %q: %q, %v", imsi, again, err)
		}
	})
}

func FuzzDecodeICCID(f *testing.F) {
	f.Add([]byte{0x98, 0x94, 0x20, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87, 0xF9})
	f.Add([]byte{0x98, 0x10, 0x14, 0x30, 0x00, 0x00, 0x21, 0x43, 0x65, 0x87})
	f.Add([]byte{0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		iccid, err := DecodeICCID(b)
		if err != nil {
			return
		}
		if ValidateICCID(iccid) != nil {
			t.Fatalf("DecodeICCID(% X) = invalid %q", b, iccid)
		}
		// A modem's ICCID text is taken as nibble-swapped when it starts
		// with 98 (real ICCIDs start with 89), so only other ICCIDs
		// survive normalisation unchanged.
		if again, err := normalizeICCID(iccid); err != nil || (again != iccid && !strings.HasPrefix(iccid, "98")) {
			t.Fatalf("normalizeICCID(%q) = %q, %v", iccid, again, err)
		}
	})
}

// FuzzATParser checks that the AT answer parser never panics, stays within
// its bounds and gives the same answer however the stream is split.
func FuzzATParser(f *testing.F) {
	f.Add("AT+CIMI", []byte("AT+CIMI\r\r\n262011106487504\r\n\r\nOK\r\n"), uint(3))
	f.Add("AT+CCID", []byte("\r\n+CREG: 1\r\n+CCID: 8949020000123456789\r\nRING\r\nOK\r\n"), uint(1))
	f.Add("AT+CIMI", []byte("\r\n+CME ERROR: 11\r\n"), uint(7))
	f.Add("AT+CRSM=176,12258,0,0,10", []byte("\r\n+CRSM: 144,0,\"989420000021436587F9\"\r\n\r\nOK\r\n"), uint(5))
	f.Fuzz(func(t *testing.T, cmd string, data []byte, split uint) {
		whole := atParser{cmd: cmd}
		n := whole.feed(data)
		if n > len(data) || (!whole.done && n != len(data)) {
			t.Fatalf("consumed %d of %d bytes, done=%v", n, len(data), whole.done)
		}
		chunked := atParser{cmd: cmd}
		step := int(split%16) + 1
		for i := 0; i < len(data) && !chunked.done; i += step {
			chunked.feed(data[i:min(i+step, len(data))])
		}
		if whole.done != chunked.done || whole.resp.final != chunked.resp.final ||
			!slices.Equal(whole.resp.lines, chunked.resp.lines) || (whole.err == nil) != (chunked.err == nil) {
			t.Fatalf("split by %d changes the answer: %+v vs %+v", step, whole.resp, chunked.resp)
		}
		if whole.done && whole.err == nil && !isFinalResult(whole.resp.final) {
			t.Fatalf("done with non-final %q", whole.resp.final)
		}
		if len(whole.resp.lines) > maxATLines {
			t.Fatalf("%d lines", len(whole.resp.lines))
		}
		for _, l := range whole.resp.lines {
			if len(l) > maxATLineLen+3 {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		// The extractors must not panic on whatever lines came out.
		extractIMSI(whole.resp.lines)
		extractICCID(whole.resp.lines, true, "+CCID", "^ICCID")
		parseCRSM(cmd, whole.resp.lines)
	})
}

// FuzzUnmarshalClaim checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes (the encoding is canonical).
func FuzzUnmarshalClaim(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Claim
		if err := c.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded claim does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n% X\n% X", b, out)
		}
	})
}

// FuzzParseFCP checks the select-response parsers on arbitrary bytes.
func FuzzParseFCP(f *testing.F) {
	f.Add([]byte{0x62, 0x0E, 0x82, 0x02, 0x41, 0x21, 0x83, 0x02, 0x6F, 0x07, 0x80, 0x02, 0x00, 0x09, 0x8A, 0x01})
	f.Add([]byte{0x61, 0x12, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x49, 0xFF, 0x05, 0x89, 0x50, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseFCP(b)
		parseGSMResponse(b)
		if aid := usimAIDFromDirRecord(b); aid != nil && !bytes.HasPrefix(aid, []byte(usimAIDPrefix)) {
			t.Fatalf("non-USIM AID % X accepted", aid)
		}
	})
}
