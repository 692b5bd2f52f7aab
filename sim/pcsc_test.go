//go:build cgo

package sim

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/x402/x402/sim/internal/vicc"
)

// The tests in this file share vpcd's TCP ports (one card per slot), so
// none of them runs in parallel.

// TestPCSCCards reads every emulated card case through pcscd and vpcd.
func TestPCSCCards(t *testing.T) {
	port := startPCSCD(t)
	for _, tc := range cardCases() {
		t.Run(tc.name, func(t *testing.T) {
			served := insertCard(t, port, 0, tc.cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			id, err := (&PCSCReader{Reader: vpcdReader0}).ReadIdentity(ctx)
			checkCardCase(t, tc, id, err)
			if err == nil && id.Source != (Source{Kind: SourcePCSC, Name: vpcdReader0}) {
				t.Fatalf("source %v", id.Source)
			}
			if tc.cfg.Faults.RemoveAfter > 0 {
				if serr := <-served; !errors.Is(serr, vicc.ErrRemoved) {
					t.Fatalf("emulator ended with %v, want ErrRemoved", serr)
				}
			}
		})
	}
}

// TestPCSCListAndPick checks reader listing, the choice of the first reader
// holding a card, and the errors for empty readers.
func TestPCSCListAndPick(t *testing.T) {
	port := startPCSCD(t)
	ctx := t.Context()

	readers, err := ListPCSCReaders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range readers {
		if (r.Name == vpcdReader0 || r.Name == vpcdReader1) && r.CardPresent {
			t.Fatalf("reader %q has a card before any was inserted", r.Name)
		}
	}
	_, err = (&PCSCReader{Reader: vpcdReader0}).ReadIdentity(ctx)
	if !errors.Is(err, ErrNoCard) {
		t.Fatalf("read from empty reader: %v, want ErrNoCard", err)
	}

	insertCard(t, port, 1, vicc.Config{Kind: vicc.USIM, T1: true, ICCID: efICCID, IMSI: efIMSI, AD: efAD2})
	readers, err = ListPCSCReaders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(readers, PCSCReaderState{Name: vpcdReader1, CardPresent: true}) {
		t.Fatalf("readers %+v: want %q with a card", readers, vpcdReader1)
	}
	id, err := (&PCSCReader{}).ReadIdentity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Source.Name != vpcdReader1 || id.IMSI != wantIMSI {
		t.Fatalf("picked %+v, want the card in %q", id, vpcdReader1)
	}

	r, err := Discover(ctx, DiscoverOptions{ModemGlobs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	pr, ok := r.(*PCSCReader)
	if !ok || pr.Reader != vpcdReader1 {
		t.Fatalf("Discover = %#v, want the PC/SC reader %q", r, vpcdReader1)
	}
	if !slices.Contains(BuiltinReaders(), "pcsc") {
		t.Fatalf("BuiltinReaders() = %v in a cgo build", BuiltinReaders())
	}
}
