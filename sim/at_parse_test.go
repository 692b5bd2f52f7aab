package sim

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// parseAll feeds s to a parser for cmd in chunks of n bytes.
func parseAll(cmd, s string, n int) (atParser, int) {
	p := atParser{cmd: cmd}
	consumed := 0
	for i := 0; i < len(s) && !p.done; i += n {
		consumed += p.feed([]byte(s[i:min(i+n, len(s))]))
	}
	return p, consumed
}

func TestATParser(t *testing.T) {
	tests := []struct {
		name  string
		cmd   string
		in    string
		lines []string
		final string
	}{
		{"echo off", "AT+CIMI", "\r\n262011106487504\r\n\r\nOK\r\n", []string{"262011106487504"}, "OK"},
		{"echo on", "AT+CIMI", "AT+CIMI\r\r\n262011106487504\r\n\r\nOK\r\n", []string{"262011106487504"}, "OK"},
		{"URCs interleaved", "AT+CCID", "AT+CCID\r\r\n+CREG: 1\r\n\r\nRING\r\n+CCID: 8949020000123456789\r\n^RSSI:18\r\nOK\r\n",
			[]string{"+CREG: 1", "RING", "+CCID: 8949020000123456789", "^RSSI:18"}, "OK"},
		{"CME error", "AT+CIMI", "\r\n+CME ERROR: 10\r\n", nil, "+CME ERROR: 10"},
		{"plain error", "AT^ICCID?", "AT^ICCID?\r\r\nERROR\r\n", nil, "ERROR"},
		{"LF only", "AT", "\nOK\n", nil, "OK"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, len(tt.in)} {
			p, _ := parseAll(tt.cmd, tt.in, chunk)
			if !p.done || p.err != nil || p.resp.final != tt.final || !slices.Equal(p.resp.lines, tt.lines) {
				t.Errorf("%s (chunks of %d): done=%v err=%v lines=%q final=%q; want lines=%q final=%q",
					tt.name, chunk, p.done, p.err, p.resp.lines, p.resp.final, tt.lines, tt.final)
			}
		}
	}
}

func TestATParserStopsAtFinal(t *testing.T) {
	in := "\r\nOK\r\n+CREG: 5\r\n"
	p, n := parseAll("AT", in, len(in))
	if !p.done || n != strings.Index(in, "OK")+3 {
		t.Fatalf("consumed %d of %q, done=%v", n, in, p.done)
	}
}

func TestATParserBounds(t *testing.T) {
	p, _ := parseAll("AT", strings.Repeat("x", 10*maxATLineLen)+"\r\nOK\r\n", 7)
	if !p.done || len(p.resp.lines) != 1 || len(p.resp.lines[0]) > maxATLineLen+3 {
		t.Fatalf("overlong line: done=%v lines=%d", p.done, len(p.resp.lines))
	}
	p, _ = parseAll("AT", strings.Repeat("+CREG: 1\r\n", 2*maxATLines), 5)
	if !p.done || !errors.Is(p.err, errATTooLong) {
		t.Fatalf("endless URCs: done=%v err=%v", p.done, p.err)
	}
}

func TestATErrorMapping(t *testing.T) {
	tests := []struct {
		result string
		is     error
		text   string
	}{
		{"+CME ERROR: 10", ErrNoCard, "SIM not inserted"},
		{"+CME ERROR: 11", ErrPINRequired, "SIM PIN required"},
		{"+CME ERROR: SIM PIN required", ErrPINRequired, "SIM PIN required"},
		{"+CME ERROR: 4", nil, "operation not supported"},
		{"ERROR", nil, `"ERROR"`},
	}
	for _, tt := range tests {
		err := error(&ATError{Command: "AT+CIMI", Result: tt.result})
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%q: not %v", tt.result, tt.is)
		}
		if !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), "AT+CIMI") {
			t.Errorf("%q: message %q lacks %q", tt.result, err, tt.text)
		}
	}
}

func TestExtract(t *testing.T) {
	if got, err := extractIMSI([]string{"+CREG: 1", "+CIMI: 262011106487504"}); err != nil || got != wantIMSI {
		t.Errorf("extractIMSI prefixed = %q, %v", got, err)
	}
	if _, err := extractIMSI([]string{"+CREG: 1"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("extractIMSI without IMSI: %v", err)
	}
	iccids := []struct {
		lines    []string
		bare     bool
		prefixes []string
	}{
		{[]string{"+CCID: 8949020000123456789"}, true, []string{"+CCID"}},
		{[]string{"8949020000123456789"}, true, []string{"+CCID"}},
		{[]string{`+CCID: "8949020000123456789F"`}, true, []string{"+CCID"}},
		{[]string{"+QCCID: 8949020000123456789F"}, true, []string{"+QCCID"}},
		{[]string{"^ICCID: 98942000002143658799"[:8] + "002143658 7F9"}, false, []string{"^ICCID"}}, // garbled: must fail
		{[]string{"^ICCID: 989420000021436587F9"}, false, []string{"^ICCID"}},
	}
	for i, c := range iccids {
		got, err := extractICCID(c.lines, c.bare, c.prefixes...)
		if i == 4 {
			if err == nil {
				t.Errorf("garbled ICCID %q accepted as %q", c.lines, got)
			}
			continue
		}
		if err != nil || got != wantICCID {
			t.Errorf("extractICCID(%q) = %q, %v", c.lines, got, err)
		}
	}
	data, err := parseCRSM("AT+CRSM", []string{`+CRSM: 144,0,"989420000021436587F9"`})
	if err != nil || len(data) != 10 {
		t.Errorf("parseCRSM = % X, %v", data, err)
	}
	_, err = parseCRSM("AT+CRSM", []string{"+CRSM: 106,130"})
	var se *StatusError
	if !errors.As(err, &se) || se.SW != 0x6A82 {
		t.Errorf("parseCRSM 6A82 = %v", err)
	}
}
