//go:build cgo

package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ebfe/scard"
)

// BuiltinReaders names the readers built into this binary: "pcsc" (cgo
// builds only), "modem" and "config".
func BuiltinReaders() []string {
	return []string{string(SourcePCSC), string(SourceModem), string(SourceConfig)}
}

// ListPCSCReaders lists the PC/SC readers and whether each holds a card.
// No readers is an empty list, not an error.
func ListPCSCReaders(ctx context.Context) ([]PCSCReaderState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, fmt.Errorf("pcsc: establish context (is pcscd running?): %w", err)
	}
	defer sc.Release()
	return listReaders(sc)
}

// listReaders lists readers and card presence on an established context.
func listReaders(sc *scard.Context) ([]PCSCReaderState, error) {
	names, err := sc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pcsc: list readers: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	states := make([]scard.ReaderState, len(names))
	for i, n := range names {
		states[i] = scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware}
	}
	if err := sc.GetStatusChange(states, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return nil, fmt.Errorf("pcsc: reader status: %w", err)
	}
	out := make([]PCSCReaderState, len(names))
	for i, st := range states {
		out[i] = PCSCReaderState{Name: st.Reader, CardPresent: st.EventState&scard.StatePresent != 0}
	}
	return out, nil
}

// ReadIdentity connects to the reader (T=0 or T=1), reads the SIM inside
// one PC/SC transaction and returns its identity.
func (r *PCSCReader) ReadIdentity(ctx context.Context) (Identity, error) {
	log := nopLogger(r.Logger)
	sc, err := scard.EstablishContext()
	if err != nil {
		return Identity{}, fmt.Errorf("pcsc: establish context (is pcscd running?): %w", err)
	}
	defer sc.Release()
	name, err := r.pickReader(sc)
	if err != nil {
		return Identity{}, err
	}
	card, err := sc.Connect(name, scard.ShareShared, scard.ProtocolT0|scard.ProtocolT1)
	if err != nil {
		if errors.Is(err, scard.ErrNoSmartcard) || errors.Is(err, scard.ErrRemovedCard) {
			return Identity{}, fmt.Errorf("pcsc: connect %q: %w: %w", name, ErrNoCard, err)
		}
		return Identity{}, fmt.Errorf("pcsc: connect %q: %w", name, err)
	}
	defer card.Disconnect(scard.LeaveCard)
	proto := card.ActiveProtocol()
	if proto != scard.ProtocolT0 && proto != scard.ProtocolT1 {
		return Identity{}, fmt.Errorf("pcsc: %q: unsupported protocol %v", name, proto)
	}
	log.Debug("pcsc connected", "reader", name, "t0", proto == scard.ProtocolT0)
	if err := card.BeginTransaction(); err != nil {
		return Identity{}, fmt.Errorf("pcsc: %q: begin transaction: %w", name, cardGone(card, err))
	}
	defer card.EndTransaction(scard.LeaveCard)
	s := &cardSession{tx: scardTransmitter{sc: sc, card: card, reader: name}, t0: proto == scard.ProtocolT0, log: log}
	d, err := readSIM(ctx, s)
	if err != nil {
		return Identity{}, fmt.Errorf("pcsc %q: %w", name, err)
	}
	return newIdentity(d.imsi, d.iccid, d.mncLen, Source{Kind: SourcePCSC, Name: name})
}

// pickReader returns the configured reader, or the first one with a card.
func (r *PCSCReader) pickReader(sc *scard.Context) (string, error) {
	if r.Reader != "" {
		return r.Reader, nil
	}
	readers, err := listReaders(sc)
	if err != nil {
		return "", err
	}
	if len(readers) == 0 {
		return "", fmt.Errorf("pcsc: %w", ErrNoReader)
	}
	for _, rd := range readers {
		if rd.CardPresent {
			return rd.Name, nil
		}
	}
	return "", fmt.Errorf("pcsc: none of %d readers holds a card: %w", len(readers), ErrNoCard)
}

// removalGrace is how long a failed or empty transmit waits for pcscd to
// report the card gone before the failure is blamed on the card's answer.
const removalGrace = 1500 * time.Millisecond

// scardTransmitter sends APDUs to a connected card.
type scardTransmitter struct {
	sc     *scard.Context
	card   *scard.Card
	reader string
}

// transmit sends one APDU, mapping a vanished card to ErrCardRemoved.
func (t scardTransmitter) transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, errors.New("empty APDU")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rsp, err := t.card.Transmit(cmd)
	if err != nil {
		return nil, fmt.Errorf("transmit: %w", cardGone(t.card, err))
	}
	if len(rsp) < 2 && t.cardRemoved(ctx) {
		// Some drivers (vpcd) report a card that vanished mid-command as
		// an empty answer.
		return nil, fmt.Errorf("transmit: %w: empty answer", ErrCardRemoved)
	}
	return rsp, nil
}

// cardRemoved waits up to removalGrace for the reader to report no card.
func (t scardTransmitter) cardRemoved(ctx context.Context) bool {
	deadline := time.Now().Add(removalGrace)
	st := []scard.ReaderState{{Reader: t.reader, CurrentState: scard.StateUnaware}}
	for ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		err := t.sc.GetStatusChange(st, left)
		if err != nil && !errors.Is(err, scard.ErrTimeout) {
			return true // reader gone or context broken: the card is unusable
		}
		ev := st[0].EventState
		if ev&scard.StatePresent == 0 || ev&scard.StateMute != 0 {
			return true
		}
		if errors.Is(err, scard.ErrTimeout) {
			return false
		}
		st[0].CurrentState = ev &^ scard.StateChanged
	}
	return false
}

// cardGone wraps err with ErrCardRemoved when the card was removed or reset,
// judged from err itself or, for generic failures, from the card's status.
func cardGone(card *scard.Card, err error) error {
	switch {
	case errors.Is(err, scard.ErrRemovedCard), errors.Is(err, scard.ErrResetCard),
		errors.Is(err, scard.ErrNoSmartcard), errors.Is(err, scard.ErrUnpoweredCard):
		return fmt.Errorf("%w: %w", ErrCardRemoved, err)
	}
	st, serr := card.Status()
	if serr != nil || st.State&scard.Present == 0 {
		return fmt.Errorf("%w: %w", ErrCardRemoved, err)
	}
	return err
}
