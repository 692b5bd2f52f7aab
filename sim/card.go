package sim

import (
	"context"
	"fmt"
	"log/slog"
)

// maxExchangeSteps bounds the GET RESPONSE / resend chain of one command, so
// a card that keeps answering 61xx cannot loop forever.
const maxExchangeSteps = 16

// maxResponseLen bounds the data collected for one command.
const maxResponseLen = 4096

// transmitter sends one APDU and returns the response (data and SW1 SW2).
type transmitter interface {
	transmit(ctx context.Context, cmd []byte) ([]byte, error)
}

// cardSession runs commands on a card, independent of how APDUs travel.
type cardSession struct {
	tx  transmitter
	t0  bool // T=0: case-4 commands go without Le
	log *slog.Logger
}

// exchange sends a and returns the response data and final status word,
// fetching the rest of the answer with GET RESPONSE on 61xx (CLA of the
// command) and 9Fxx (2G, CLA A0), and resending with the right Le on 6Cxx.
func (s *cardSession) exchange(ctx context.Context, name string, a apdu) ([]byte, uint16, error) {
	var data []byte
	cmd := a
	for step := 0; step < maxExchangeSteps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		raw := cmd.encode(s.t0)
		rsp, err := s.tx.transmit(ctx, raw)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		s.log.Debug("apdu", "step", name, "cmd", fmt.Sprintf("% X", raw), "rsp", fmt.Sprintf("% X", rsp))
		if len(rsp) < 2 {
			return nil, 0, fmt.Errorf("%s: %w: response of %d bytes has no status word", name, ErrMalformed, len(rsp))
		}
		sw1, sw2 := rsp[len(rsp)-2], rsp[len(rsp)-1]
		body := rsp[:len(rsp)-2]
		switch sw1 {
		case 0x61, 0x9F:
			// More data waits: fetch it with GET RESPONSE.
			data = append(data, body...)
			cla := cmd.cla
			if sw1 == 0x9F {
				cla = claGSM
			}
			cmd = apdu{cla: cla, ins: insGetResponse, le: leOf(sw2)}
		case 0x6C:
			// Wrong Le: resend the same command with Le = SW2.
			cmd.le = leOf(sw2)
		default:
			data = append(data, body...)
			return data, uint16(sw1)<<8 | uint16(sw2), nil
		}
		if len(data) > maxResponseLen {
			return nil, 0, fmt.Errorf("%s: %w: response longer than %d bytes", name, ErrMalformed, maxResponseLen)
		}
	}
	return nil, 0, fmt.Errorf("%s: %w: no final status word after %d GET RESPONSE/resend steps", name, ErrMalformed, maxExchangeSteps)
}

// leOf maps a status word's length byte to Le (00 means 256).
func leOf(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

// run is exchange that fails unless the status word means success.
func (s *cardSession) run(ctx context.Context, name string, a apdu) ([]byte, error) {
	data, sw, err := s.exchange(ctx, name, a)
	if err != nil {
		return nil, err
	}
	if !swSuccess(sw) {
		return nil, &StatusError{Command: name, SW: sw}
	}
	return data, nil
}
