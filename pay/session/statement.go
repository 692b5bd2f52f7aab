package session

import (
	"crypto/ed25519"
	"fmt"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// Statement is the seller's account of a channel's usage so far: the bytes
// relayed each way and what they cost. Statements are cumulative and their
// Seq strictly increases within a session.
type Statement struct {
	Channel   pay.ChannelID
	Seq       uint64
	BytesUp   uint64
	BytesDown uint64
	Owed      pay.Amount
}

// Payload is the canonical encoding that is signed.
func (s Statement) Payload() []byte {
	w := wire.NewWriter(64)
	s.encode(w)
	return w.Bytes()
}

func (s Statement) encode(w *wire.Writer) {
	w.Fixed(s.Channel[:]).U64(s.Seq).U64(s.BytesUp).U64(s.BytesDown).U64(uint64(s.Owed))
}

// Sign signs s as the seller (pay.KindStatement in d).
func (s Statement) Sign(d pay.Domain, seller ed25519.PrivateKey) SignedStatement {
	return SignedStatement{Statement: s, Sig: d.Sign(seller, pay.KindStatement, s.Payload())}
}

// SignedStatement is a Statement with the seller's signature.
type SignedStatement struct {
	Statement
	Sig [ed25519.SignatureSize]byte
}

// Verify checks the seller's signature.
func (s SignedStatement) Verify(d pay.Domain, seller pay.Account) error {
	if !d.Verify(seller, pay.KindStatement, s.Payload(), s.Sig) {
		return fmt.Errorf("statement seq %d for channel %s: %w", s.Seq, s.Channel, pay.ErrBadSignature)
	}
	return nil
}

func (SignedStatement) frameType() frameType { return typeStatement }

func (s SignedStatement) encode(w *wire.Writer) {
	s.Statement.encode(w)
	w.Fixed(s.Sig[:])
}

func decodeStatement(r *wire.Reader) SignedStatement {
	var s SignedStatement
	r.Fixed(s.Channel[:])
	s.Seq = r.U64()
	s.BytesUp = r.U64()
	s.BytesDown = r.U64()
	s.Owed = pay.Amount(r.U64())
	r.Fixed(s.Sig[:])
	return s
}
