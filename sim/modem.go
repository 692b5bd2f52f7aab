package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultATTimeout is how long a ModemReader waits for each answer unless
// configured otherwise.
const DefaultATTimeout = 3 * time.Second

// AT commands used, with the SIM files read through AT+CRSM (READ BINARY =
// 176; file ids in decimal: 12258 = 2FE2, 28423 = 6F07, 28589 = 6FAD).
const (
	atCIMI       = "AT+CIMI"
	atCRSMIMSI   = "AT+CRSM=176,28423,0,0,9"
	atCRSMICCID  = "AT+CRSM=176,12258,0,0,10"
	atCRSMAD     = "AT+CRSM=176,28589,0,0,4"
	atCCID       = "AT+CCID"
	atQCCID      = "AT+QCCID"
	atHuaweiICID = "AT^ICCID?"
)

// ModemReader reads the SIM behind a cellular modem's AT command port (a
// serial device such as /dev/ttyUSB2). The port is put into raw mode when it
// is a tty. Echo on or off, unsolicited result codes between answer lines,
// and modems that know only some of the ICCID commands are all handled.
type ModemReader struct {
	// Device is the AT port's path.
	Device string
	// Timeout bounds each command's answer; zero means DefaultATTimeout.
	Timeout time.Duration
	// Logger receives debug traces; nil discards them.
	Logger *slog.Logger
}

// ReadIdentity reads the IMSI (AT+CIMI), the ICCID (the first of AT+CCID,
// AT+QCCID, AT^ICCID? and AT+CRSM the modem answers) and the MNC length
// (EF_AD through AT+CRSM, when available).
func (m *ModemReader) ReadIdentity(ctx context.Context) (Identity, error) {
	p, err := openSerial(m.Device)
	if err != nil {
		return Identity{}, fmt.Errorf("modem: %w", err)
	}
	defer p.Close()
	s := m.session(p)
	if _, err := s.command(ctx, "AT"); err != nil {
		return Identity{}, fmt.Errorf("modem %s does not answer AT: %w", m.Device, err)
	}
	imsi, err := readModemIMSI(ctx, s)
	if err != nil {
		return Identity{}, fmt.Errorf("modem %s: read IMSI: %w", m.Device, err)
	}
	iccid, err := readModemICCID(ctx, s)
	if err != nil {
		return Identity{}, fmt.Errorf("modem %s: read ICCID: %w", m.Device, err)
	}
	mncLen := readModemMNCLength(ctx, s)
	id, err := newIdentity(imsi, iccid, mncLen, Source{Kind: SourceModem, Name: m.Device})
	if err != nil {
		return Identity{}, fmt.Errorf("modem %s: %w", m.Device, err)
	}
	return id, nil
}

// session wraps an open port in an AT session with the configured timeout.
func (m *ModemReader) session(p atPort) *atSession {
	t := m.Timeout
	if t <= 0 {
		t = DefaultATTimeout
	}
	return &atSession{port: p, timeout: t, log: nopLogger(m.Logger)}
}

// ProbeModem reports whether device answers AT with OK within timeout.
func ProbeModem(ctx context.Context, device string, timeout time.Duration) error {
	p, err := openSerial(device)
	if err != nil {
		return err
	}
	defer p.Close()
	m := ModemReader{Device: device, Timeout: timeout}
	if _, err := m.session(p).command(ctx, "AT"); err != nil {
		return fmt.Errorf("probe %s: %w", device, err)
	}
	return nil
}

// readModemIMSI asks AT+CIMI, falling back to reading EF_IMSI with AT+CRSM.
func readModemIMSI(ctx context.Context, s *atSession) (string, error) {
	resp, err := s.command(ctx, atCIMI)
	if err == nil {
		imsi, xerr := extractIMSI(resp.lines)
		if xerr == nil {
			return imsi, nil
		}
		err = fmt.Errorf("%s: %w", atCIMI, xerr)
	}
	if ctx.Err() != nil || errors.Is(err, ErrNoCard) {
		return "", err
	}
	resp, cerr := s.command(ctx, atCRSMIMSI)
	if cerr == nil {
		var data []byte
		if data, cerr = parseCRSM(atCRSMIMSI, resp.lines); cerr == nil {
			imsi, derr := DecodeIMSI(data)
			if derr == nil {
				return imsi, nil
			}
			cerr = fmt.Errorf("%s: %w", atCRSMIMSI, derr)
		}
	}
	return "", fmt.Errorf("%w; fallback: %w", err, cerr)
}

// iccidCommand is one way of asking a modem for the ICCID.
type iccidCommand struct {
	cmd     string
	extract func(lines []string) (string, error)
}

// iccidCommands lists the ICCID commands in the order they are tried.
func iccidCommands() []iccidCommand {
	return []iccidCommand{
		{atCCID, func(l []string) (string, error) { return extractICCID(l, true, "+CCID", "+ICCID", "ICCID") }},
		{atQCCID, func(l []string) (string, error) { return extractICCID(l, true, "+QCCID") }},
		{atHuaweiICID, func(l []string) (string, error) { return extractICCID(l, false, "^ICCID") }},
		{atCRSMICCID, func(l []string) (string, error) {
			data, err := parseCRSM(atCRSMICCID, l)
			if err != nil {
				return "", err
			}
			return DecodeICCID(data)
		}},
	}
}

// readModemICCID tries the ICCID commands until one answers usably.
func readModemICCID(ctx context.Context, s *atSession) (string, error) {
	var errs []error
	for _, c := range iccidCommands() {
		resp, err := s.command(ctx, c.cmd)
		if err == nil {
			var iccid string
			if iccid, err = c.extract(resp.lines); err == nil {
				return iccid, nil
			}
			err = fmt.Errorf("%s: %w", c.cmd, err)
		}
		if ctx.Err() != nil || errors.Is(err, ErrNoCard) {
			return "", err
		}
		s.log.Debug("ICCID command failed", "cmd", c.cmd, "err", err)
		errs = append(errs, err)
	}
	return "", fmt.Errorf("%w: %w", ErrNoAnswer, errors.Join(errs...))
}

// readModemMNCLength reads EF_AD through AT+CRSM; 0 when unavailable.
func readModemMNCLength(ctx context.Context, s *atSession) int {
	resp, err := s.command(ctx, atCRSMAD)
	if err != nil {
		s.log.Debug("EF_AD not readable, using the MNC length table", "err", err)
		return 0
	}
	data, err := parseCRSM(atCRSMAD, resp.lines)
	if err != nil {
		s.log.Debug("EF_AD not readable, using the MNC length table", "err", err)
		return 0
	}
	n, _ := MNCLengthFromAD(data)
	return n
}
