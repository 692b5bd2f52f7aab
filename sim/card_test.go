package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/x402/x402/sim/internal/vicc"
)

// emulatedTx sends APDUs straight to an emulated card.
type emulatedTx struct {
	card *vicc.Card
}

func (e emulatedTx) transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	rsp := e.card.Process(cmd)
	if rsp == nil {
		return nil, fmt.Errorf("%w: emulated card gone", ErrCardRemoved)
	}
	return rsp, nil
}

// TestCardInProcess runs the card cases against the emulator without
// PC/SC, so the card logic is also covered by builds without cgo.
func TestCardInProcess(t *testing.T) {
	for _, tc := range cardCases() {
		t.Run(tc.name, func(t *testing.T) {
			s := &cardSession{tx: emulatedTx{card: vicc.New(tc.cfg)}, t0: !tc.cfg.T1, log: nopLogger(nil)}
			d, err := readSIM(t.Context(), s)
			var id Identity
			if err == nil {
				id, err = newIdentity(d.imsi, d.iccid, d.mncLen, Source{Kind: SourcePCSC, Name: "emulated"})
			}
			checkCardCase(t, tc, id, err)
		})
	}
}

func TestCardCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := &cardSession{tx: emulatedTx{card: vicc.New(vicc.Config{ICCID: efICCID, IMSI: efIMSI})}, log: nopLogger(nil)}
	if _, err := readSIM(ctx, s); err == nil || ctx.Err() == nil {
		t.Fatalf("read with cancelled context: %v", err)
	}
}
