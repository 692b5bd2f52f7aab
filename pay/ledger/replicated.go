package ledger

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// The kinds of op a shard orders for the ledger.
const (
	opTx      uint8 = 1 // a signed transaction
	opAccount uint8 = 2 // read an account
	opChannel uint8 = 3 // read a channel
	opBinding uint8 = 4 // read an account's SIM binding
	opClock   uint8 = 5 // a replica's signed clock report
)

const opVersion = 1

// encodeOp wraps a payload with its kind and the submitter's clock (which
// is informational: ledger time comes from the replicas' clock reports).
func encodeOp(kind uint8, now time.Time, payload []byte) []byte {
	return wire.NewWriter(len(payload) + 24).U8(opVersion).U8(kind).U64(uint64(now.UnixNano())).Var(payload).Bytes()
}

func decodeOp(b []byte) (kind uint8, at int64, payload []byte, err error) {
	r := wire.NewReader(b)
	if v := r.U8(); r.Err() == nil && v != opVersion {
		r.Fail(fmt.Errorf("op version %d, want %d", v, opVersion))
	}
	kind = r.U8()
	at = int64(r.U64())
	payload = r.VarShared(MaxTxSize) // b, a request's op, is never changed
	if err := r.Done(); err != nil {
		return 0, 0, nil, fmt.Errorf("decode op: %w", err)
	}
	return kind, at, payload, nil
}

// Replicated is the ledger as the application of a PBFT shard: the shard
// orders ops (transactions, reads and the replicas' clock reports) and
// every replica applies each committed batch here. It implements the
// consensus core's Application interface without importing it.
//
// Time: every replica reports its clock every ClockReportEvery as an op
// signed by its key (ClockOp), and a batch's transactions apply at the
// (f+1)-th latest of the replicas' newest reports, after the batch's own
// reports. So ledger time is part of the replicated state, the same on
// every replica, never ahead of every correct replica's clock, and no
// client can move it: a Byzantine buyer cannot shorten a challenge
// period. Until f+1 replicas have reported, transactions that need the
// time (starting and finalizing a close) are rejected.
type Replicated struct {
	l        *Ledger
	sigs     *sigCache
	replicas []ed25519.PublicKey
	// clockChecks counts the clock report signatures verified.
	clockChecks atomic.Uint64
	// activity counts the ops other than clock reports applied (see
	// Activity).
	activity atomic.Uint64
}

// Activity returns a count that grows whenever an op other than a clock
// report applies (a transaction or a read, run ahead or committed): a
// replica's clock reporter reports less while it stands still.
func (r *Replicated) Activity() uint64 { return r.activity.Load() }

// NewReplicated wraps l as the application of the shard whose replicas
// have the keys replicas (by replica id).
func NewReplicated(l *Ledger, replicas []ed25519.PublicKey) *Replicated {
	return &Replicated{l: l, sigs: newSigCache(l.keys), replicas: replicas}
}

// opResult is a read's answer (or a malformed op's error), as JSON.
type opResult struct {
	Err     string          `json:"err,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Present bool            `json:"present,omitempty"`
}

// Apply applies one committed batch and returns one result per op: a
// Receipt with the transaction's TxID for a transaction, an opResult for a
// read. A transaction whose signature AuthenticateRequest verified is not
// verified again; the others are verified in parallel. The transactions
// are committed together; reads see the state after them.
func (r *Replicated) Apply(_ uint64, ops [][]byte) [][]byte {
	results := make([][]byte, len(ops))
	txs := make([]SignedTx, 0, len(ops)) // nearly every op is a transaction
	encs := make([][]byte, 0, len(ops))
	txIdx := make([]int, 0, len(ops))
	var reports []ClockReport
	for i, op := range ops {
		kind, _, payload, err := decodeOp(op)
		if err != nil {
			results[i] = encodeResult(opResult{Err: err.Error()})
			continue
		}
		if kind == opClock {
			rep, err := r.clockReport(payload)
			if err != nil {
				results[i] = encodeResult(opResult{Err: err.Error()})
				continue
			}
			reports = append(reports, rep)
			results[i] = encodeResult(opResult{})
			continue
		}
		r.activity.Add(1)
		if kind != opTx {
			continue
		}
		tx, err := UnmarshalTx(payload)
		if err != nil {
			results[i] = txResult{Receipt: Receipt{Err: err.Error()}}.marshal()
			continue
		}
		txs, encs, txIdx = append(txs, tx), append(encs, payload), append(txIdx, i)
	}
	now, err := r.l.applyClock(reports, len(r.replicas))
	if err != nil {
		for i, op := range ops {
			if results[i] == nil {
				if kind, _, _, _ := decodeOp(op); kind == opTx {
					results[i] = txResult{Receipt: Receipt{Err: err.Error()}}.marshal()
				} else {
					results[i] = encodeResult(opResult{Err: err.Error()})
				}
			}
		}
		return results
	}
	if len(txs) > 0 {
		sigErrs, hashes := r.verifyAll(txs, encs)
		for j, rc := range r.l.applyBatch(txs, now, sigErrs) {
			// The hash of the encoding is the transaction's id (txID).
			results[txIdx[j]] = txResult{Receipt: rc, Tx: hashes[j]}.marshal()
		}
	}
	for i, op := range ops {
		if results[i] != nil {
			continue
		}
		kind, _, payload, _ := decodeOp(op)
		results[i] = encodeResult(r.read(kind, payload))
	}
	return results
}

// clockReport decodes and verifies a clock report op's payload, through
// the signature cache: a report is authenticated on its way in, checked
// again in its pre-prepare and by the core, and applied once or twice (run
// ahead, then committed), and its signature is verified once.
func (r *Replicated) clockReport(payload []byte) (ClockReport, error) {
	rep, err := UnmarshalClockReport(payload)
	if err != nil {
		return ClockReport{}, err
	}
	if int(rep.Replica) >= len(r.replicas) {
		return ClockReport{}, fmt.Errorf("clock report of replica %d: %w", rep.Replica, ErrBadSignature)
	}
	k := clockCacheKey(payload)
	if r.sigs.hit(k) {
		return rep.ClockReport, nil
	}
	r.clockChecks.Add(1)
	if !rep.Verify(r.l.d, r.replicas[rep.Replica]) {
		return ClockReport{}, fmt.Errorf("clock report of replica %d: %w", rep.Replica, ErrBadSignature)
	}
	r.sigs.add(k)
	return rep.ClockReport, nil
}

// clockCacheKey is a clock report's key in the signature cache, apart from
// every transaction's (the SHA-256 of its encoding): bytes that verified as
// one kind are never taken as verified as the other.
func clockCacheKey(payload []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("x402/clock-report-cache/v1\x00"))
	h.Write(payload)
	return [32]byte(h.Sum(nil))
}

// verifyAll returns the signature errors of txs (encoded as encs): nil for
// those in the cache, the others checked together (sigCache.verifyMany);
// and the SHA-256 of each encoding, the cache's key and the transaction's
// id (txID).
func (r *Replicated) verifyAll(txs []SignedTx, encs [][]byte) ([]error, [][32]byte) {
	errs := make([]error, len(txs))
	hashes := make([][32]byte, len(encs))
	var u uncached
	for i, enc := range encs {
		if hashes[i] = sha256.Sum256(enc); !r.sigs.hit(hashes[i]) {
			u.add(i, txs[i], hashes[i])
		}
	}
	u.check(r.sigs, r.l.d, func(i int, verified bool) {
		if !verified {
			errs[i] = ErrBadSignature
		}
	})
	return errs, hashes
}

func (r *Replicated) read(kind uint8, payload []byte) opResult {
	var (
		v       any
		present = true
		err     error
	)
	switch kind {
	case opAccount:
		var a pay.Account
		if len(payload) != len(a) {
			return opResult{Err: "account read: bad account"}
		}
		copy(a[:], payload)
		v, err = r.l.Account(a)
	case opChannel:
		var id pay.ChannelID
		if len(payload) != len(id) {
			return opResult{Err: "channel read: bad channel id"}
		}
		copy(id[:], payload)
		v, err = r.l.Channel(id)
	case opBinding:
		var a pay.Account
		if len(payload) != len(a) {
			return opResult{Err: "binding read: bad account"}
		}
		copy(a[:], payload)
		v, present, err = r.l.Binding(context.Background(), a)
	default:
		return opResult{Err: fmt.Sprintf("unknown op kind %d", kind)}
	}
	if err != nil {
		return opResult{Err: err.Error()}
	}
	return opResult{Value: encodeResult(v), Present: present}
}

// Digest is the ledger's state digest.
func (r *Replicated) Digest() [32]byte { return r.l.Digest() }

// Snapshot encodes the ledger's state.
func (r *Replicated) Snapshot() ([]byte, error) { return r.l.Snapshot() }

// Restore replaces the ledger's state.
func (r *Replicated) Restore(b []byte) error { return r.l.Restore(b) }

// encodeResult encodes v, which is always one of this package's plain structs.
func encodeResult(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"err":"encode result"}`)
	}
	return b
}

// Orderer submits an op to a shard and returns its result once a quorum
// of replicas agree on it (the consensus client implements it).
type Orderer interface {
	Submit(ctx context.Context, op []byte) ([]byte, error)
}

// ShardClient is the ledger Client (and BindingReader) of a PBFT shard:
// every call is an op the shard orders.
type ShardClient struct {
	o        Orderer
	g        Genesis
	now      func() time.Time
	patience time.Duration // unsignedPatience; tests shorten it
}

// NewShardClient talks to the shard of genesis g through o.
func NewShardClient(o Orderer, g Genesis) *ShardClient {
	return &ShardClient{o: o, g: g, now: time.Now, patience: unsignedPatience}
}

// Genesis implements Client.
func (c *ShardClient) Genesis(context.Context) (Genesis, error) { return c.g, nil }

// UnsignedOrderer is an Orderer that can also order an unsigned request
// of another client id at a given timestamp, which the shard's application
// authenticates (the consensus client implements it; see
// Replicated.AuthenticateRequest). An empty result means the request will
// never execute (a later timestamp of that client executed first).
type UnsignedOrderer interface {
	Orderer
	SubmitUnsigned(ctx context.Context, client [32]byte, timestamp uint64, op []byte) ([]byte, error)
}

// unsignedPatience is how long Submit waits for a transaction ordered as an
// unsigned request before it checks the transaction's signature itself: a
// badly signed one is never answered (replicas drop it as unauthentic), so
// it then goes the signed way, where the ledger rejects it with a receipt.
const unsignedPatience = 2 * time.Second

// ErrUnknownOutcome is returned (wrapped) by ShardClient.Submit when the
// transaction's account ordered a later nonce while the transaction waited
// and its own nonce is used: whether this transaction or another one of
// the same nonce used it cannot be told.
var ErrUnknownOutcome = errors.New("outcome unknown")

// Submit implements Client. When the orderer is an UnsignedOrderer, tx is
// ordered as the unsigned request of its account (the client id) at its
// nonce (the timestamp): replicas then check one signature per
// transaction, tx's own, instead of a request signature as well. The
// result names the transaction it is for; if it is another one (this
// account submitted another transaction with the same nonce first), or
// the request will never execute and tx's nonce is still free, tx is
// ordered as an ordinary signed request of one of the orderer's
// identities, as without an UnsignedOrderer.
func (c *ShardClient) Submit(ctx context.Context, tx SignedTx) (Receipt, error) {
	enc := tx.Marshal()
	op := encodeOp(opTx, c.now(), enc)
	if u, ok := c.o.(UnsignedOrderer); ok {
		rc, done, err := c.submitUnsigned(ctx, u, tx, enc, op)
		if done {
			return rc, err
		}
	}
	res, err := c.o.Submit(ctx, op)
	if err != nil {
		return Receipt{}, fmt.Errorf("shard submit: %w", err)
	}
	tr, err := unmarshalTxResult(res)
	if err != nil {
		return Receipt{}, fmt.Errorf("shard submit: bad receipt: %w", err)
	}
	return tr.Receipt, nil
}

// submitUnsigned orders tx as its account's unsigned request; done is
// false when tx must go the signed way instead.
func (c *ShardClient) submitUnsigned(ctx context.Context, u UnsignedOrderer, tx SignedTx, enc, op []byte) (rc Receipt, done bool, err error) {
	// A badly signed transaction is never answered as unsigned: if none
	// came after the patience, check the signature here and, if it is bad,
	// stop waiting and go the signed way (the ledger rejects it there with
	// a receipt). A good one keeps its request in flight.
	uctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	t := time.AfterFunc(c.patience, func() {
		if tx.Verify(c.g.Domain()) != nil {
			stop(ErrBadSignature)
		}
	})
	res, err := u.SubmitUnsigned(uctx, tx.From, tx.Nonce, op)
	t.Stop()
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(uctx), ErrBadSignature) {
			return Receipt{}, false, nil
		}
		return Receipt{}, true, fmt.Errorf("shard submit: %w", err)
	}
	if len(res) == 0 {
		// A later nonce of the account executed first. If tx's nonce is
		// still free, tx never executed (and now never will as unsigned).
		st, err := c.Account(ctx, tx.From)
		if err != nil {
			return Receipt{}, true, fmt.Errorf("shard submit: %w", err)
		}
		if st.Nonce >= tx.Nonce {
			return Receipt{}, true, fmt.Errorf("shard submit: nonce %d of %s was used while the transaction waited: %w",
				tx.Nonce, tx.From, ErrUnknownOutcome)
		}
		return Receipt{}, false, nil
	}
	tr, err := unmarshalTxResult(res)
	if err != nil {
		return Receipt{}, true, fmt.Errorf("shard submit: bad receipt: %w", err)
	}
	if tr.Tx != txID(enc) {
		return Receipt{}, false, nil // the nonce's slot went to another transaction
	}
	if tr.Err != "" {
		// Rejected, so the nonce is still free, but the shard answers
		// this (account, nonce) request from its reply cache from now on:
		// a retry (a finalize that came too early, say) must be ordered
		// afresh, the signed way, to be applied to the state of now.
		return Receipt{}, false, nil
	}
	return tr.Receipt, true, nil
}

func (c *ShardClient) read(ctx context.Context, kind uint8, key []byte, v any) (bool, error) {
	res, err := c.o.Submit(ctx, encodeOp(kind, c.now(), key))
	if err != nil {
		return false, fmt.Errorf("shard read: %w", err)
	}
	var r opResult
	if err := json.Unmarshal(res, &r); err != nil {
		return false, fmt.Errorf("shard read: bad result: %w", err)
	}
	if r.Err != "" {
		if kind == opChannel {
			return false, fmt.Errorf("%w: %s", ErrUnknownChannel, r.Err)
		}
		return false, errors.New(r.Err)
	}
	if !r.Present {
		return false, nil
	}
	return true, json.Unmarshal(r.Value, v)
}

// Account implements Client.
func (c *ShardClient) Account(ctx context.Context, a pay.Account) (AccountState, error) {
	var st AccountState
	_, err := c.read(ctx, opAccount, a[:], &st)
	return st, err
}

// Channel implements Client.
func (c *ShardClient) Channel(ctx context.Context, id pay.ChannelID) (ChannelState, error) {
	var st ChannelState
	_, err := c.read(ctx, opChannel, id[:], &st)
	return st, err
}

// Binding implements BindingReader.
func (c *ShardClient) Binding(ctx context.Context, a pay.Account) (Binding, bool, error) {
	var b Binding
	ok, err := c.read(ctx, opBinding, a[:], &b)
	return b, ok, err
}

var (
	_ Client        = (*ShardClient)(nil)
	_ BindingReader = (*ShardClient)(nil)
)
