package sim

import "errors"

// Errors that callers may test for with errors.Is. Readers wrap them with
// the context of the failing step.
var (
	// ErrNotBuiltIn means the reader is not part of this build (the PC/SC
	// reader needs cgo).
	ErrNotBuiltIn = errors.New("sim: reader not built into this binary")
	// ErrNoReader means no PC/SC reader or modem port was found.
	ErrNoReader = errors.New("sim: no SIM reader found")
	// ErrNoCard means the reader holds no card.
	ErrNoCard = errors.New("sim: no card in reader")
	// ErrCardRemoved means the card was removed or reset while being read.
	ErrCardRemoved = errors.New("sim: card removed or reset during the read")
	// ErrPINRequired means the SIM refused to read a file until its PIN is
	// verified.
	ErrPINRequired = errors.New("sim: SIM PIN required (unlock the SIM first)")
	// ErrNoUSIM means the UICC has no USIM application in EF_DIR.
	ErrNoUSIM = errors.New("sim: no USIM application on the card")
	// ErrMalformed means the card or modem returned data that does not
	// decode.
	ErrMalformed = errors.New("sim: malformed data")
	// ErrTimeout means the modem did not finish an answer in time.
	ErrTimeout = errors.New("sim: modem did not answer in time")
	// ErrNoAnswer means the modem did not answer any of the commands tried.
	ErrNoAnswer = errors.New("sim: modem gave no usable answer")
	// ErrPortBusy is returned when another program has the modem's AT port
	// open (ModemManager, a terminal, another x402): their commands and
	// answers would interleave with ours.
	ErrPortBusy = errors.New("sim: modem AT port is in use by another program")
	// ErrBadSignature means a claim's signature does not verify for the
	// domain.
	ErrBadSignature = errors.New("sim: claim signature does not verify")
)
