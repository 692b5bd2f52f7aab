package ledger

import (
	"fmt"
	"time"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// Body tags in the canonical encoding. 0 is never valid.
const (
	tagTransfer uint8 = iota + 1
	tagMint
	tagBurn
	tagOpenChannel
	tagTopUp
	tagClaim
	tagStartClose
	tagFinalize
	tagCoopClose
	tagFaucet
	tagRegisterIdentity
	tagTransferBinding
)

// maxAssetLen bounds an encoded asset name.
const maxAssetLen = 16

// MaxTxSize bounds an encoded SignedTx; the largest bodies (a coop close
// with a chained voucher, a binding transfer with a claim) are far smaller.
const MaxTxSize = 1024

// Payload is the canonical encoding of tx that its sender signs.
func (tx Tx) Payload() []byte { return tx.appendPayload(make([]byte, 0, 256)) }

// appendPayload appends Payload() to dst.
func (tx Tx) appendPayload(dst []byte) []byte {
	w := wire.Append(dst)
	tx.encode(w)
	return w.Bytes()
}

func (tx Tx) encode(w *wire.Writer) {
	w.Fixed(tx.From[:]).U64(tx.Nonce)
	switch b := tx.Body.(type) {
	case Transfer:
		w.U8(tagTransfer).Fixed(b.To[:]).String(string(b.Asset)).U64(uint64(b.Amount))
	case Mint:
		w.U8(tagMint).Fixed(b.To[:]).String(string(b.Asset)).U64(uint64(b.Amount))
	case Burn:
		w.U8(tagBurn).String(string(b.Asset)).U64(uint64(b.Amount))
	case OpenChannel:
		w.U8(tagOpenChannel).Fixed(b.Seller[:]).String(string(b.Asset)).U64(uint64(b.Deposit)).U64(uint64(b.Challenge))
	case TopUp:
		w.U8(tagTopUp).Fixed(b.Channel[:]).U64(uint64(b.Amount))
	case Claim:
		w.U8(tagClaim)
		b.Voucher.Encode(w)
		w.U32(b.Ticks).Fixed(b.Preimage[:])
	case StartClose:
		w.U8(tagStartClose).Fixed(b.Channel[:])
	case Finalize:
		w.U8(tagFinalize).Fixed(b.Channel[:])
	case CoopClose:
		w.U8(tagCoopClose).Fixed(b.Payload()).Fixed(b.SellerSig[:])
	case Faucet:
		w.U8(tagFaucet).String(string(b.Asset))
	case RegisterIdentity:
		w.U8(tagRegisterIdentity).Var(b.Claim)
	case TransferBinding:
		w.U8(tagTransferBinding).Fixed(b.To[:]).Var(b.NewClaim)
	default:
		w.U8(0) // no body, or not one of ours: never decodes, never applies
	}
}

// Marshal is the canonical encoding of the signed transaction.
func (s SignedTx) Marshal() []byte {
	w := wire.NewWriter(320)
	s.encode(w)
	return w.Fixed(s.Sig[:]).Bytes()
}

// UnmarshalTx decodes exactly one signed transaction written by Marshal.
// It is strict: unknown tags, unknown assets, non-canonical booleans,
// truncated input and trailing bytes are errors, so re-encoding a decoded
// transaction gives the input back. It does not check the signature.
func UnmarshalTx(b []byte) (SignedTx, error) {
	if len(b) > MaxTxSize {
		return SignedTx{}, fmt.Errorf("decode tx: %d bytes exceeds the limit of %d", len(b), MaxTxSize)
	}
	r := wire.NewReader(b)
	var s SignedTx
	r.Fixed(s.From[:])
	s.Nonce = r.U64()
	s.Body = decodeBody(r)
	r.Fixed(s.Sig[:])
	if err := r.Done(); err != nil {
		return SignedTx{}, fmt.Errorf("decode tx: %w", err)
	}
	return s, nil
}

func decodeBody(r *wire.Reader) Body {
	switch tag := r.U8(); tag {
	case tagTransfer:
		var b Transfer
		r.Fixed(b.To[:])
		b.Asset = readAsset(r)
		b.Amount = pay.Amount(r.U64())
		return b
	case tagMint:
		var b Mint
		r.Fixed(b.To[:])
		b.Asset = readAsset(r)
		b.Amount = pay.Amount(r.U64())
		return b
	case tagBurn:
		var b Burn
		b.Asset = readAsset(r)
		b.Amount = pay.Amount(r.U64())
		return b
	case tagOpenChannel:
		var b OpenChannel
		r.Fixed(b.Seller[:])
		b.Asset = readAsset(r)
		b.Deposit = pay.Amount(r.U64())
		b.Challenge = time.Duration(r.U64())
		return b
	case tagTopUp:
		var b TopUp
		r.Fixed(b.Channel[:])
		b.Amount = pay.Amount(r.U64())
		return b
	case tagClaim:
		var b Claim
		b.Voucher = pay.DecodeVoucher(r)
		b.Ticks = r.U32()
		r.Fixed(b.Preimage[:])
		return b
	case tagStartClose:
		var b StartClose
		r.Fixed(b.Channel[:])
		return b
	case tagFinalize:
		var b Finalize
		r.Fixed(b.Channel[:])
		return b
	case tagCoopClose:
		var b CoopClose
		b.Voucher = pay.DecodeVoucher(r)
		b.Ticks = r.U32()
		r.Fixed(b.Preimage[:])
		r.Fixed(b.SellerSig[:])
		return b
	case tagFaucet:
		return Faucet{Asset: readAsset(r)}
	case tagRegisterIdentity:
		return RegisterIdentity{Claim: r.Var(maxClaimSize)}
	case tagTransferBinding:
		var b TransferBinding
		r.Fixed(b.To[:])
		b.NewClaim = r.Var(maxClaimSize)
		return b
	default:
		if r.Err() == nil {
			r.Fail(fmt.Errorf("unknown transaction type %d", tag))
		}
		return nil
	}
}

func readAsset(r *wire.Reader) pay.Asset {
	a := pay.Asset(r.String(maxAssetLen))
	if r.Err() == nil && !a.Valid() {
		r.Fail(fmt.Errorf("unknown asset %q", a))
	}
	return a
}

// Payload is the canonical encoding of the close body (everything but the
// seller's signature) that both parties sign: the buyer inside its signed
// transaction, the seller in SellerSig with kind KindCoopClose.
func (c CoopClose) Payload() []byte {
	w := wire.NewWriter(200)
	c.Voucher.Encode(w)
	return w.U32(c.Ticks).Fixed(c.Preimage[:]).Bytes()
}
