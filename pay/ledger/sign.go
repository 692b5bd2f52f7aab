package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// KindCoopClose is the kind of the seller's signature on a cooperative
// close, so no other signature of the seller can be replayed as consent.
const KindCoopClose pay.Kind = "coop-close"

// ErrBadSignature is returned (wrapped) for a transaction whose signature
// does not verify; it is pay.ErrBadSignature.
var ErrBadSignature = pay.ErrBadSignature

// Sign signs tx as its sender, whose key is priv, in domain d.
func (tx Tx) Sign(d pay.Domain, priv ed25519.PrivateKey) SignedTx {
	return SignedTx{Tx: tx, Sig: d.Sign(priv, pay.KindTx, tx.Payload())}
}

// Verify checks the sender's signature in domain d.
func (s SignedTx) Verify(d pay.Domain) error {
	if !d.Verify(s.From, pay.KindTx, s.Payload(), s.Sig) {
		return ErrBadSignature
	}
	return nil
}

// SignSeller returns c with SellerSig set by the seller's key priv.
func (c CoopClose) SignSeller(d pay.Domain, priv ed25519.PrivateKey) CoopClose {
	c.SellerSig = d.Sign(priv, KindCoopClose, c.Payload())
	return c
}

// VerifySeller checks SellerSig by seller.
func (c CoopClose) VerifySeller(d pay.Domain, seller pay.Account) error {
	if !d.Verify(seller, KindCoopClose, c.Payload(), c.SellerSig) {
		return fmt.Errorf("seller's close signature: %w", ErrBadSignature)
	}
	return nil
}

// VerifyBatch checks the signatures of txs in parallel on all cores; the
// i-th error is nil when txs[i] verifies.
func VerifyBatch(d pay.Domain, txs []SignedTx) []error {
	errs := make([]error, len(txs))
	workers := min(runtime.GOMAXPROCS(0), len(txs))
	if workers <= 1 {
		for i := range txs {
			errs[i] = txs[i].Verify(d)
		}
		return errs
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(txs); i += workers {
				errs[i] = txs[i].Verify(d)
			}
		})
	}
	wg.Wait()
	return errs
}

// channelIDDomain separates channel ids from every other hash.
const channelIDDomain = "x402/channel-id/v1"

// ChannelIDFor is the id of the channel that buyer opens with its
// transaction of the given nonce in domain d.
func ChannelIDFor(d pay.Domain, buyer pay.Account, nonce uint64) pay.ChannelID {
	b := wire.NewWriter(128).String(channelIDDomain).String(d.Chain).U32(d.Shard).Fixed(buyer[:]).U64(nonce).Bytes()
	return sha256.Sum256(b)
}
