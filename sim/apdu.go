package sim

import "fmt"

// Instruction bytes and classes used (ISO 7816-4, TS 102 221, TS 51.011).
const (
	claUICC = 0x00 // UICC / USIM commands (TS 102 221)
	claGSM  = 0xA0 // 2G SIM commands (TS 51.011)

	insSelect      = 0xA4
	insReadBinary  = 0xB0
	insReadRecord  = 0xB2
	insGetResponse = 0xC0
)

// apdu is a command APDU. le < 0 means no Le field.
type apdu struct {
	cla, ins, p1, p2 byte
	data             []byte
	le               int
}

// encode returns the short-form APDU bytes. Under T=0 a case-4 command
// (data and Le) is sent without Le, the card answering 61xx/9Fxx.
func (a apdu) encode(t0 bool) []byte {
	b := []byte{a.cla, a.ins, a.p1, a.p2}
	if len(a.data) > 0 {
		b = append(b, byte(len(a.data)))
		b = append(b, a.data...)
		if a.le >= 0 && !t0 {
			b = append(b, byte(a.le))
		}
		return b
	}
	if a.le >= 0 {
		b = append(b, byte(a.le)) // 256 encodes as 00
	}
	return b
}

// Status words (ISO 7816-4, TS 102 221 §10.2, TS 51.011 §9.4).
const (
	swOK                 = 0x9000
	swWrongLength        = 0x6700
	swSecurityStatus     = 0x6982
	swNotAllowedNoEF     = 0x6986
	swFileNotFound       = 0x6A82
	swWrongP1P2          = 0x6A86
	swWrongParams        = 0x6B00
	swINSNotSupported    = 0x6D00
	swCLANotSupported    = 0x6E00
	swNoDiagnosis        = 0x6F00
	swGSMAccessCondition = 0x9804
	swGSMFileNotFound    = 0x9404
)

// swSuccess reports whether sw means the command succeeded: 9000, 91xx
// (proactive command pending) or 92xx (2G: success after retries).
func swSuccess(sw uint16) bool {
	return sw == swOK || sw>>8 == 0x91 || sw>>8 == 0x92
}

// StatusError is a card's refusal of a command: the step and the status
// word it answered.
type StatusError struct {
	// Command names the failed step, e.g. "SELECT EF_IMSI".
	Command string
	// SW is the status word SW1SW2.
	SW uint16
}

// Error describes the status word.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: card answered %04X (%s)", e.Command, e.SW, swText(e.SW))
}

// Unwrap maps security refusals to ErrPINRequired.
func (e *StatusError) Unwrap() error {
	if e.SW == swSecurityStatus || e.SW == swGSMAccessCondition {
		return ErrPINRequired
	}
	return nil
}

// swText explains a status word.
func swText(sw uint16) string {
	switch sw {
	case swWrongLength:
		return "wrong length"
	case swSecurityStatus:
		return "security status not satisfied: PIN required"
	case 0x6981:
		return "command incompatible with file structure"
	case swNotAllowedNoEF:
		return "command not allowed: no EF selected"
	case swFileNotFound:
		return "file or application not found"
	case swWrongP1P2:
		return "incorrect P1/P2"
	case swWrongParams:
		return "wrong parameters"
	case swINSNotSupported:
		return "instruction not supported"
	case swCLANotSupported:
		return "class not supported"
	case swNoDiagnosis:
		return "technical problem, no precise diagnosis"
	case 0x6581:
		return "memory problem"
	case 0x9400:
		return "no EF selected"
	case swGSMFileNotFound:
		return "file not found"
	case 0x9408:
		return "file inconsistent with command"
	case swGSMAccessCondition:
		return "access condition not fulfilled: PIN required"
	case 0x6282:
		return "end of file reached before Le bytes"
	}
	switch sw >> 8 {
	case 0x62, 0x63:
		return "warning"
	case 0x64, 0x65:
		return "execution error"
	case 0x69:
		return "command not allowed"
	case 0x6A:
		return "wrong parameters"
	}
	return "unexpected status"
}
