package ledger

import (
	"crypto/ed25519"
	"time"

	"github.com/x402/x402/pay"
)

// Tx is a transaction: From's Nonce-th action, Body. Nonces are per
// account and must be exactly one above the account's last applied nonce
// (the first is 1), so a transaction can never be replayed.
type Tx struct {
	From  pay.Account
	Nonce uint64
	Body  Body
}

// SignedTx is a Tx with From's signature (kind pay.KindTx) over its
// canonical payload.
type SignedTx struct {
	Tx
	Sig [ed25519.SignatureSize]byte
}

// Body is a transaction's action. It is implemented only by the value types
// of this package: Transfer, Mint, Burn, OpenChannel, TopUp, Claim,
// StartClose, Finalize, CoopClose, Faucet, RegisterIdentity and
// TransferBinding.
type Body interface {
	isBody()
}

// Transfer moves Amount of Asset from the sender to To; the fee
// (pay.FeeFor(Amount, FeePPM)) is taken from Amount, so To receives
// Amount minus the fee.
type Transfer struct {
	To     pay.Account
	Asset  pay.Asset
	Amount pay.Amount
}

// Mint creates Amount of Asset in To's balance; only the genesis issuer may
// mint.
type Mint struct {
	To     pay.Account
	Asset  pay.Asset
	Amount pay.Amount
}

// Burn destroys Amount of Asset from the issuer's own balance; only the
// genesis issuer may burn.
type Burn struct {
	Asset  pay.Asset
	Amount pay.Amount
}

// OpenChannel opens a unidirectional channel from the sender (the buyer) to
// Seller, escrowing Deposit of Asset from the buyer's balance. Challenge is
// the period a buyer-initiated close waits for the seller's last claim; it
// must lie within the genesis bounds. The channel id is ChannelIDFor(the
// domain, the buyer, the transaction's nonce) and is returned in the
// receipt.
type OpenChannel struct {
	Seller    pay.Account
	Asset     pay.Asset
	Deposit   pay.Amount
	Challenge time.Duration
}

// TopUp adds Amount to an open channel's deposit; only its buyer may top
// up.
type TopUp struct {
	Channel pay.ChannelID
	Amount  pay.Amount
}

// Claim redeems the newest voucher for its channel: the sender must be the
// channel's seller, the voucher must carry the buyer's signature, and its
// value (the cumulative amount plus Ticks ticks of its hash chain, proven by
// Preimage, which must hash Ticks times to the committed root) must be above
// what was claimed before and at most the deposit. The seller receives the
// increase minus the fee. Claims are accepted while the channel is open and
// during a close's challenge period. Preimage must be zero when Ticks is 0.
type Claim struct {
	Voucher  pay.SignedVoucher
	Ticks    uint32
	Preimage [32]byte
}

// StartClose begins closing a channel. From the buyer it starts the
// challenge period, during which the seller can still claim; from the
// seller (who can claim in the same breath) the period ends at once. Either
// way a Finalize settles the channel afterwards.
type StartClose struct {
	Channel pay.ChannelID
}

// Finalize settles a closing channel once its challenge period has ended:
// the rest of the deposit is refunded to the buyer. Anyone may finalize; a
// channel settles once.
type Finalize struct {
	Channel pay.ChannelID
}

// CoopClose closes a channel immediately with the consent of both parties:
// the sender must be the buyer, and SellerSig is the seller's signature of
// the same body (CoopClosePayload) with kind KindCoopClose. The voucher's
// value (as for Claim) must be at least what was claimed and at most the
// deposit: the seller receives the increase minus the fee, the buyer the
// rest of the deposit, and the channel is settled.
type CoopClose struct {
	Voucher   pay.SignedVoucher
	Ticks     uint32
	Preimage  [32]byte
	SellerSig [ed25519.SignatureSize]byte
}

// Faucet mints the genesis faucet amount of Asset to the sender, once per
// account and asset, when the genesis enables a faucet for Asset.
type Faucet struct {
	Asset pay.Asset
}

func (Transfer) isBody()    {}
func (Mint) isBody()        {}
func (Burn) isBody()        {}
func (OpenChannel) isBody() {}
func (TopUp) isBody()       {}
func (Claim) isBody()       {}
func (StartClose) isBody()  {}
func (Finalize) isBody()    {}
func (CoopClose) isBody()   {}
func (Faucet) isBody()      {}
