package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/sim"
)

// RegisterIdentity binds the sender's account to a SIM: Claim is a
// sim.Claim (its MarshalBinary) signed by the sender's key, naming the
// sender's account, under the ledger's chain and shard (sim.Domain). The
// ledger stores the claim's IMSI commitment, ICCID hash, MCC/MNC and source
// kind; it never sees the IMSI. One account per IMSI commitment and one
// commitment per account: a second account for a bound SIM and a second SIM
// for a bound account are refused.
type RegisterIdentity struct {
	Claim []byte
}

// TransferBinding moves the sender's SIM binding to To, for example after a
// key rotation. The sender must be bound; NewClaim is a sim.Claim for the
// same IMSI commitment, naming To and signed by To's key, so both keys
// consent. Afterwards To is bound and the sender is not.
type TransferBinding struct {
	To       pay.Account
	NewClaim []byte
}

func (RegisterIdentity) isBody() {}
func (TransferBinding) isBody()  {}

// maxClaimSize bounds an encoded sim.Claim inside a transaction (the
// largest, with a 256-byte source name, is about 520 bytes).
const maxClaimSize = 640

// Binding is an account's SIM binding on the ledger: what a registered
// claim said, without the IMSI and ICCID themselves.
type Binding struct {
	Account        pay.Account
	IMSICommitment sim.Commitment
	ICCIDHash      sim.Commitment
	MCC, MNC       string
	Source         sim.SourceKind // where the agent read the SIM (pcsc, modem) or config
	BoundAt        int64          // unix ns of the transaction that bound this account
}

// SIMAnchored reports whether the binding's claim was read from a physical
// SIM (PC/SC or modem), not from a configured identity.
func (b Binding) SIMAnchored() bool { return sim.Source{Kind: b.Source}.SIMAnchored() }

// BindingReader reads SIM bindings. The Ledger, the Sequencer and the HTTP
// client implement it; it is separate from Client so that other Client
// implementations need not.
type BindingReader interface {
	// Binding returns a's binding; ok is false when a is not bound.
	Binding(ctx context.Context, a pay.Account) (b Binding, ok bool, err error)
}

var (
	_ BindingReader = (*Ledger)(nil)
	_ BindingReader = (*Sequencer)(nil)
	_ BindingReader = (*httpClient)(nil)
)

// bindingJSON is Binding's JSON form, with the hashes in hex.
type bindingJSON struct {
	Account        pay.Account    `json:"account"`
	IMSICommitment string         `json:"imsi_commitment"`
	ICCIDHash      string         `json:"iccid_hash"`
	MCC            string         `json:"mcc"`
	MNC            string         `json:"mnc"`
	Source         sim.SourceKind `json:"source"`
	SIMAnchored    bool           `json:"sim_anchored"`
	BoundAt        int64          `json:"bound_at"`
}

// MarshalJSON writes the commitment and ICCID hash in hex.
func (b Binding) MarshalJSON() ([]byte, error) {
	return json.Marshal(bindingJSON{
		Account: b.Account, IMSICommitment: b.IMSICommitment.String(), ICCIDHash: b.ICCIDHash.String(),
		MCC: b.MCC, MNC: b.MNC, Source: b.Source, SIMAnchored: b.SIMAnchored(), BoundAt: b.BoundAt,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Binding) UnmarshalJSON(data []byte) error {
	var j bindingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	out := Binding{Account: j.Account, MCC: j.MCC, MNC: j.MNC, Source: j.Source, BoundAt: j.BoundAt}
	if err := parseCommitment(j.IMSICommitment, &out.IMSICommitment); err != nil {
		return fmt.Errorf("binding imsi_commitment: %w", err)
	}
	if err := parseCommitment(j.ICCIDHash, &out.ICCIDHash); err != nil {
		return fmt.Errorf("binding iccid_hash: %w", err)
	}
	*b = out
	return nil
}

func parseCommitment(s string, c *sim.Commitment) error {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	if len(raw) != len(c) {
		return fmt.Errorf("%d bytes, want %d", len(raw), len(c))
	}
	copy(c[:], raw)
	return nil
}

// simDomain is the domain claims are verified under on this ledger.
func simDomain(d pay.Domain) sim.Domain { return sim.Domain{ChainID: d.Chain, ShardID: d.Shard} }

// decodeClaim decodes and verifies a claim for account a under domain d:
// its signature, and that it names a and is signed by a's key.
func decodeClaim(d pay.Domain, raw []byte, a pay.Account) (sim.Claim, error) {
	var c sim.Claim
	if err := c.UnmarshalBinary(raw); err != nil {
		return sim.Claim{}, err
	}
	if err := c.Verify(simDomain(d)); err != nil {
		return sim.Claim{}, err
	}
	if len(c.Account) != len(a) {
		return sim.Claim{}, fmt.Errorf("claim names a %d-byte account, want a %d-byte ledger account", len(c.Account), len(a))
	}
	if claimed := pay.Account(c.Account); claimed != a {
		return sim.Claim{}, fmt.Errorf("claim is for account %s, not %s", claimed, a)
	}
	if signer := pay.AccountOf(c.PublicKey); signer != a {
		return sim.Claim{}, fmt.Errorf("claim is signed by %s, not by %s", signer, a)
	}
	return c, nil
}

// bindingFromClaim is the binding c creates at time now.
func bindingFromClaim(c sim.Claim, a pay.Account, now int64) Binding {
	return Binding{Account: a, IMSICommitment: c.IMSICommitment, ICCIDHash: c.ICCIDHash,
		MCC: c.MCC, MNC: c.MNC, Source: c.Source.Kind, BoundAt: now}
}

func (s *step) registerIdentity(b RegisterIdentity) (Receipt, error) {
	c, err := decodeClaim(s.l.d, b.Claim, s.from)
	if err != nil {
		return Receipt{}, err
	}
	if old, ok, err := s.v.binding(s.from); err != nil {
		return Receipt{}, err
	} else if ok {
		if old.IMSICommitment == c.IMSICommitment {
			return Receipt{}, fmt.Errorf("account %s is already bound to this SIM", s.from)
		}
		return Receipt{}, fmt.Errorf("account %s already bound to another SIM (IMSI commitment %s); a binding moves only by TransferBinding", s.from, old.IMSICommitment)
	}
	if holder, ok, err := s.v.commitmentHolder(c.IMSICommitment); err != nil {
		return Receipt{}, err
	} else if ok {
		return Receipt{}, fmt.Errorf("IMSI commitment %s already bound to account %s", c.IMSICommitment, holder)
	}
	s.v.setBinding(bindingFromClaim(c, s.from, s.now))
	return Receipt{}, nil
}

func (s *step) transferBinding(b TransferBinding) (Receipt, error) {
	old, ok, err := s.v.binding(s.from)
	if err != nil {
		return Receipt{}, err
	}
	if !ok {
		return Receipt{}, fmt.Errorf("account %s is not bound to a SIM", s.from)
	}
	if b.To.IsZero() {
		return Receipt{}, errors.New("recipient is unset")
	}
	if b.To == s.from {
		return Receipt{}, errors.New("sender and recipient are the same account")
	}
	c, err := decodeClaim(s.l.d, b.NewClaim, b.To)
	if err != nil {
		return Receipt{}, fmt.Errorf("new claim: %w", err)
	}
	if c.IMSICommitment != old.IMSICommitment {
		return Receipt{}, fmt.Errorf("new claim's IMSI commitment %s is not the bound %s: a binding moves only with its SIM", c.IMSICommitment, old.IMSICommitment)
	}
	if other, ok, err := s.v.binding(b.To); err != nil {
		return Receipt{}, err
	} else if ok {
		return Receipt{}, fmt.Errorf("account %s already bound to another SIM (IMSI commitment %s)", b.To, other.IMSICommitment)
	}
	s.v.del(bucketBindings, s.from[:])
	s.v.setBinding(bindingFromClaim(c, b.To, s.now))
	return Receipt{}, nil
}

// checkSellerAnchored enforces Genesis.RequireSIMForSellers on a channel's
// seller.
func (s *step) checkSellerAnchored(seller pay.Account) error {
	if !s.l.g.RequireSIMForSellers {
		return nil
	}
	b, ok, err := s.v.binding(seller)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("seller %s is not bound to a SIM, and this ledger requires SIM-anchored sellers", seller)
	case !b.SIMAnchored():
		return fmt.Errorf("seller %s is bound to a %s identity, not a SIM, and this ledger requires SIM-anchored sellers", seller, b.Source)
	}
	return nil
}

const bindingRecordVersion = 1

// encodeBinding is the stored record of an account's binding (the account
// is its key).
func encodeBinding(b Binding) []byte {
	return wire.NewWriter(128).U8(bindingRecordVersion).Fixed(b.IMSICommitment[:]).Fixed(b.ICCIDHash[:]).
		String(b.MCC).String(b.MNC).String(string(b.Source)).U64(uint64(b.BoundAt)).Bytes()
}

func decodeBinding(a pay.Account, raw []byte) (Binding, error) {
	r := wire.NewReader(raw)
	b := Binding{Account: a}
	if v := r.U8(); r.Err() == nil && v != bindingRecordVersion {
		r.Fail(fmt.Errorf("record version %d", v))
	}
	r.Fixed(b.IMSICommitment[:])
	r.Fixed(b.ICCIDHash[:])
	b.MCC = r.String(3)
	b.MNC = r.String(3)
	b.Source = sim.SourceKind(r.String(16))
	b.BoundAt = int64(r.U64())
	if err := r.Done(); err != nil {
		return Binding{}, fmt.Errorf("binding of %s: corrupt record: %w", a, err)
	}
	return b, nil
}

func (v *view) binding(a pay.Account) (Binding, bool, error) {
	raw := v.get(bucketBindings, a[:])
	if raw == nil {
		return Binding{}, false, nil
	}
	b, err := decodeBinding(a, raw)
	if err != nil {
		return Binding{}, false, err
	}
	return b, true, nil
}

func (v *view) commitmentHolder(c sim.Commitment) (pay.Account, bool, error) {
	raw := v.get(bucketCommitments, c[:])
	if raw == nil {
		return pay.Account{}, false, nil
	}
	var a pay.Account
	if len(raw) != len(a) {
		return a, false, fmt.Errorf("corrupt commitment record %s (%d bytes)", c, len(raw))
	}
	copy(a[:], raw)
	return a, true, nil
}

// setBinding stores b and points its commitment at its account.
func (v *view) setBinding(b Binding) {
	v.put(bucketBindings, b.Account[:], encodeBinding(b))
	v.put(bucketCommitments, b.IMSICommitment[:], append([]byte(nil), b.Account[:]...))
}

// Binding returns a's SIM binding; ok is false when a is not bound.
func (l *Ledger) Binding(ctx context.Context, a pay.Account) (b Binding, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, false, err
	}
	err = l.read(func(v *view) error {
		b, ok, err = v.binding(a)
		return err
	})
	if err != nil {
		return Binding{}, false, fmt.Errorf("ledger: %w", err)
	}
	return b, ok, nil
}

// Binding reads a's SIM binding.
func (s *Sequencer) Binding(ctx context.Context, a pay.Account) (Binding, bool, error) {
	return s.l.Binding(ctx, a)
}

// bindings checks the SIM bindings: every record decodes, and the two
// buckets are inverse maps (each account's commitment points back at the
// account, and each commitment's account holds that commitment), so no SIM
// binds two accounts and no account two SIMs.
func (c *checker) bindings(tx *bolt.Tx) error {
	accounts := tx.Bucket(bucketBindings)
	commitments := tx.Bucket(bucketCommitments)
	n := 0
	err := accounts.ForEach(func(k, val []byte) error {
		var a pay.Account
		if len(k) != len(a) {
			return fmt.Errorf("malformed binding key %x", k)
		}
		copy(a[:], k)
		b, err := decodeBinding(a, val)
		if err != nil {
			return err
		}
		if holder := commitments.Get(b.IMSICommitment[:]); !bytes.Equal(holder, a[:]) {
			return fmt.Errorf("account %s is bound to IMSI commitment %s, which points at %x", a, b.IMSICommitment, holder)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	m := 0
	err = commitments.ForEach(func(k, val []byte) error {
		var a pay.Account
		if len(k) != len(sim.Commitment{}) || len(val) != len(a) {
			return fmt.Errorf("malformed commitment record %x", k)
		}
		copy(a[:], val)
		raw := accounts.Get(val)
		if raw == nil {
			return fmt.Errorf("IMSI commitment %x points at account %s, which is not bound", k, a)
		}
		b, err := decodeBinding(a, raw)
		if err != nil {
			return err
		}
		if !bytes.Equal(b.IMSICommitment[:], k) {
			return fmt.Errorf("IMSI commitment %x points at account %s, which is bound to %s", k, a, b.IMSICommitment)
		}
		m++
		return nil
	})
	if err != nil {
		return err
	}
	if n != m {
		return fmt.Errorf("%d bound accounts but %d bound IMSI commitments", n, m)
	}
	return nil
}
