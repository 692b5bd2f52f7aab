package ledger

import (
	"fmt"
	"math"

	"github.com/x402/x402/pay"
)

// Receipt is the outcome of one transaction. Err is "" when it was applied;
// otherwise it says why it was rejected, and the transaction changed
// nothing (not even the sender's nonce).
type Receipt struct {
	Seq     uint64        `json:"seq"`              // position among applied transactions (1, 2, ...); 0 when rejected
	Err     string        `json:"err,omitempty"`    // "" = applied
	Channel pay.ChannelID `json:"channel,omitzero"` // the channel a channel transaction acted on (the new id for OpenChannel)
	Paid    pay.Amount    `json:"paid,omitempty"`   // moved to the recipient: net of the fee for Transfer, Claim and CoopClose; the deposit or top-up for channels; the amount for Mint, Burn and Faucet
	Fee     pay.Amount    `json:"fee,omitempty"`    // paid to the fee account
	Refund  pay.Amount    `json:"refund,omitempty"` // returned to the buyer by Finalize or CoopClose
}

// Apply verifies tx's signature and applies it at time now (unix
// nanoseconds, given by the sequencer), committing (fsynced) before it
// returns. It is deterministic: the same transactions with the same times,
// in the same order, give the same receipts and state on every machine.
func (l *Ledger) Apply(tx SignedTx, now int64) Receipt {
	var b signedBytes
	return l.applyBatch([]SignedTx{tx}, now, []error{tx.verify(b.of(l.d, tx.Tx), l.keys)})[0]
}

// ApplyVerified is Apply for a transaction whose signature the caller has
// already checked with SignedTx.Verify (for example with VerifyBatch on all
// cores). Signatures inside the body (vouchers, a seller's close consent)
// are still checked, since they depend on the channel's state.
func (l *Ledger) ApplyVerified(tx SignedTx, now int64) Receipt {
	return l.applyBatch([]SignedTx{tx}, now, []error{nil})[0]
}

// ApplyBatch verifies the signatures of txs in parallel on all cores, then
// applies them in order at time now and commits them together (one fsync).
// Each transaction is applied or rejected on its own, exactly as by a
// sequence of Apply calls.
func (l *Ledger) ApplyBatch(txs []SignedTx, now int64) []Receipt {
	return l.applyBatch(txs, now, verifyBatch(l.d, txs, l.keys))
}

// ApplyVerifiedBatch is ApplyBatch for transactions whose signatures the
// caller has already checked.
func (l *Ledger) ApplyVerifiedBatch(txs []SignedTx, now int64) []Receipt {
	return l.applyBatch(txs, now, make([]error, len(txs)))
}

func (l *Ledger) applyBatch(txs []SignedTx, now int64, sigErrs []error) []Receipt {
	receipts := make([]Receipt, len(txs))
	err := l.update(func(v *view) error {
		applied, err := readU64(v.get(bucketMeta, metaApplied), "applied")
		if err != nil {
			return err
		}
		for i, tx := range txs {
			r, err := l.applyOne(v, tx, now, sigErrs[i])
			if err != nil {
				v.discard()
				receipts[i] = Receipt{Err: err.Error()}
				continue
			}
			applied++
			r.Seq = applied
			v.put(bucketMeta, metaApplied, u64Bytes(applied))
			v.keep()
			receipts[i] = r
		}
		return nil
	})
	if err != nil {
		for i := range receipts {
			receipts[i] = Receipt{Err: fmt.Sprintf("ledger storage: %v", err)}
		}
	}
	return receipts
}

// applyOne checks and applies one transaction into v.
func (l *Ledger) applyOne(v *view, tx SignedTx, now int64, sigErr error) (Receipt, error) {
	if sigErr != nil {
		return Receipt{}, sigErr
	}
	last, err := v.nonce(tx.From)
	if err != nil {
		return Receipt{}, err
	}
	switch {
	case last == math.MaxUint64:
		return Receipt{}, fmt.Errorf("account %s has used every nonce", tx.From)
	case tx.Nonce <= last:
		return Receipt{}, fmt.Errorf("nonce %d already used (next is %d)", tx.Nonce, last+1)
	case tx.Nonce > last+1:
		return Receipt{}, fmt.Errorf("nonce %d is ahead (next is %d)", tx.Nonce, last+1)
	}
	s := step{l: l, v: v, from: tx.From, nonce: tx.Nonce, now: now}
	r, err := s.body(tx.Body)
	if err != nil {
		return Receipt{}, err
	}
	v.setNonce(tx.From, tx.Nonce)
	return r, nil
}

// step is the context of the transaction being applied.
type step struct {
	l     *Ledger
	v     *view
	from  pay.Account
	nonce uint64
	now   int64
}

func (s *step) body(b Body) (Receipt, error) {
	var (
		r    Receipt
		err  error
		name string
	)
	switch b := b.(type) {
	case Transfer:
		name = "transfer"
		r, err = s.transfer(b)
	case Mint:
		name = "mint"
		r, err = s.mint(b)
	case Burn:
		name = "burn"
		r, err = s.burn(b)
	case Faucet:
		name = "faucet"
		r, err = s.faucet(b)
	case OpenChannel:
		name = "open channel"
		r, err = s.openChannel(b)
	case TopUp:
		name = "top up"
		r, err = s.topUp(b)
	case Claim:
		name = "claim"
		r, err = s.claim(b)
	case StartClose:
		name = "start close"
		r, err = s.startClose(b)
	case Finalize:
		name = "finalize"
		r, err = s.finalize(b)
	case CoopClose:
		name = "coop close"
		r, err = s.coopClose(b)
	case RegisterIdentity:
		name = "register identity"
		r, err = s.registerIdentity(b)
	case TransferBinding:
		name = "transfer binding"
		r, err = s.transferBinding(b)
	default:
		return Receipt{}, fmt.Errorf("unsupported transaction body %T", b)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// payWithFee moves inc (already taken from its payer or an escrow) to to,
// less the fee, which goes to the fee account.
func (s *step) payWithFee(to pay.Account, asset pay.Asset, inc pay.Amount) (paid, fee pay.Amount, err error) {
	fee = pay.FeeFor(inc, s.l.g.FeePPM)
	paid = inc - fee // FeeFor never exceeds its amount
	if err := s.v.credit(to, asset, paid); err != nil {
		return 0, 0, err
	}
	if err := s.v.credit(s.l.g.FeeAccount, asset, fee); err != nil {
		return 0, 0, err
	}
	return paid, fee, nil
}
