// Package atmodem emulates a cellular modem's AT command port for tests: it
// answers AT+CIMI and a configurable subset of the ICCID commands (AT+CCID,
// AT+QCCID, AT^ICCID?, AT+CRSM), with echo on or off, unsolicited result
// codes interleaved with answers, slow answers and error results. Serve
// runs it on the master side of a pseudo-terminal.
package atmodem

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// The ICCID commands a modem may support.
const (
	CCID   = "AT+CCID"
	QCCID  = "AT+QCCID"
	ICCID  = "AT^ICCID?"
	CRSM   = "AT+CRSM"
	ATCIMI = "AT+CIMI"
)

// Config describes an emulated modem.
type Config struct {
	// IMSI and ICCID are the SIM's numbers (digits).
	IMSI, ICCID string
	// Echo echoes commands (ATE1); ATE0/ATE1 change it at run time.
	Echo bool
	// Commands lists the supported ICCID commands (CCID, QCCID, ICCID,
	// CRSM); others answer ERROR.
	Commands []string
	// CIMIResult, when set, is the final result of AT+CIMI instead of the
	// IMSI and OK (e.g. "+CME ERROR: 11").
	CIMIResult string
	// MNCLength, when 2 or 3, is served as EF_AD through AT+CRSM.
	MNCLength int
	// Delay is waited before each answer.
	Delay time.Duration
	// DelayCommand limits Delay to this command; empty means all.
	DelayCommand string
	// URCs are sent between the echo and each answer's lines.
	URCs []string
	// Silent makes the modem read commands but never answer.
	Silent bool
	// CIMIPrefix answers "+CIMI: <imsi>" instead of the bare IMSI.
	CIMIPrefix bool
}

// Serve reads commands (terminated by CR) from rw and answers them until ctx
// ends or rw fails.
func Serve(ctx context.Context, rw io.ReadWriter, cfg Config) error {
	r := bufio.NewReader(rw)
	echo := cfg.Echo
	for {
		line, err := r.ReadString('\r')
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("atmodem: read: %w", err)
		}
		cmd := strings.TrimSpace(strings.TrimRight(line, "\r"))
		if cmd == "" {
			continue
		}
		if echo {
			if _, err := io.WriteString(rw, cmd+"\r"); err != nil {
				return fmt.Errorf("atmodem: echo: %w", err)
			}
		}
		if cfg.Silent {
			continue
		}
		if cfg.Delay > 0 && (cfg.DelayCommand == "" || cfg.DelayCommand == cmd) {
			t := time.NewTimer(cfg.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		lines, final := answer(cmd, cfg, &echo)
		var b strings.Builder
		for _, u := range cfg.URCs {
			b.WriteString("\r\n" + u + "\r\n")
		}
		for _, l := range lines {
			b.WriteString("\r\n" + l + "\r\n")
		}
		b.WriteString("\r\n" + final + "\r\n")
		if _, err := io.WriteString(rw, b.String()); err != nil {
			return fmt.Errorf("atmodem: write: %w", err)
		}
	}
}

// supports reports whether the modem knows the ICCID command c.
func (cfg Config) supports(c string) bool {
	for _, s := range cfg.Commands {
		if s == c {
			return true
		}
	}
	return false
}

// answer returns the information lines and final result for cmd.
func answer(cmd string, cfg Config, echo *bool) ([]string, string) {
	switch strings.ToUpper(cmd) {
	case "AT":
		return nil, "OK"
	case "ATE0":
		*echo = false
		return nil, "OK"
	case "ATE1":
		*echo = true
		return nil, "OK"
	case ATCIMI:
		if cfg.CIMIResult != "" {
			return nil, cfg.CIMIResult
		}
		if cfg.CIMIPrefix {
			return []string{"+CIMI: " + cfg.IMSI}, "OK"
		}
		return []string{cfg.IMSI}, "OK"
	case CCID:
		if cfg.supports(CCID) {
			return []string{"+CCID: " + cfg.ICCID}, "OK"
		}
	case QCCID:
		if cfg.supports(QCCID) {
			return []string{"+QCCID: " + cfg.ICCID + strings.Repeat("F", 20-len(cfg.ICCID))}, "OK"
		}
	case ICCID:
		if cfg.supports(ICCID) {
			return []string{"^ICCID: " + strings.ToUpper(hex.EncodeToString(SwappedBCD(cfg.ICCID, 10)))}, "OK"
		}
	}
	if rest, ok := strings.CutPrefix(strings.ToUpper(cmd), "AT+CRSM="); ok && cfg.supports(CRSM) {
		return crsm(rest, cfg)
	}
	return nil, "ERROR"
}

// crsm answers AT+CRSM READ BINARY of EF_ICCID and EF_AD.
func crsm(args string, cfg Config) ([]string, string) {
	var data []byte
	switch args {
	case "176,12258,0,0,10":
		data = SwappedBCD(cfg.ICCID, 10)
	case "176,28589,0,0,4":
		if cfg.MNCLength != 2 && cfg.MNCLength != 3 {
			return []string{"+CRSM: 106,130"}, "OK" // 6A82 file not found
		}
		data = []byte{0x00, 0x00, 0x00, byte(cfg.MNCLength)}
	default:
		return []string{"+CRSM: 106,130"}, "OK"
	}
	return []string{fmt.Sprintf("+CRSM: 144,0,%q", strings.ToUpper(hex.EncodeToString(data)))}, "OK"
}

// SwappedBCD encodes digits as EF_ICCID does: two digits per byte, low
// nibble first, padded with F to n bytes.
func SwappedBCD(digits string, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		lo, hi := byte(0xF), byte(0xF)
		if 2*i < len(digits) {
			lo = digits[2*i] - '0'
		}
		if 2*i+1 < len(digits) {
			hi = digits[2*i+1] - '0'
		}
		out[i] = hi<<4 | lo
	}
	return out
}
