package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/x402/x402/pay"
)

// Client submits transactions to a ledger and reads its state. The
// in-process Sequencer, the HTTP client and (later) the PBFT shard's client
// implement it; sellers, buyer agents and the CLI use only this.
type Client interface {
	// Genesis returns the ledger's genesis.
	Genesis(ctx context.Context) (Genesis, error)
	// Submit waits until tx is applied or rejected (final) and returns its
	// receipt; a rejection is a receipt with Err, not an error.
	Submit(ctx context.Context, tx SignedTx) (Receipt, error)
	// Account returns an account's balances and last nonce.
	Account(ctx context.Context, a pay.Account) (AccountState, error)
	// Channel returns a channel; an unknown id is an error wrapping
	// ErrUnknownChannel.
	Channel(ctx context.Context, id pay.ChannelID) (ChannelState, error)
}

// ErrRejected is wrapped by SubmitBody's error when the ledger rejected the
// transaction; the receipt's Err follows it.
var ErrRejected = errors.New("ledger rejected the transaction")

// SubmitBody sends body from the account of priv: it reads the account's
// next nonce, signs, submits and, if another transaction of the same
// account took the nonce meanwhile, retries once with a fresh nonce. A
// rejected transaction is an error wrapping ErrRejected (the receipt is
// returned too). A transaction that needs the ledger's time while a newly
// started shard has not established its clock yet is retried every 100ms
// until ctx ends.
func SubmitBody(ctx context.Context, c Client, d pay.Domain, priv ed25519.PrivateKey, body Body) (Receipt, error) {
	for {
		r, err := submitBody(ctx, c, d, priv, body)
		if err == nil || !strings.Contains(r.Err, errNoClock.Error()) {
			return r, err
		}
		wait := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			wait.Stop()
			return r, err
		case <-wait.C:
		}
	}
}

func submitBody(ctx context.Context, c Client, d pay.Domain, priv ed25519.PrivateKey, body Body) (Receipt, error) {
	from := pay.AccountOf(priv.Public().(ed25519.PublicKey))
	var r Receipt
	for attempt := 0; attempt < 2; attempt++ {
		st, err := c.Account(ctx, from)
		if err != nil {
			return Receipt{}, fmt.Errorf("submit: read nonce: %w", err)
		}
		tx := Tx{From: from, Nonce: st.Nonce + 1, Body: body}.Sign(d, priv)
		if r, err = c.Submit(ctx, tx); err != nil {
			return Receipt{}, fmt.Errorf("submit: %w", err)
		}
		if !isNonceRace(r) {
			break
		}
	}
	if r.Err != "" {
		return r, fmt.Errorf("%w: %s", ErrRejected, r.Err)
	}
	return r, nil
}

// isNonceRace reports a rejection because the nonce was taken meanwhile.
func isNonceRace(r Receipt) bool {
	return strings.HasPrefix(r.Err, "nonce ") && strings.Contains(r.Err, "already used")
}
