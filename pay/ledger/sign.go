package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

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

// Verify checks the sender's signature in domain d by the ledger's
// signature rule, ZIP 215 (see VerifyBatch).
func (s SignedTx) Verify(d pay.Domain) error {
	var b signedBytes
	return s.verify(b.of(d, s.Tx), nil)
}

// zip215 is the ledger's signature rule for curve25519-voi (see VerifyBatch).
var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// verify checks s's signature over msg, the bytes it covers, with s's
// sender's expanded key from keys when it has one.
func (s SignedTx) verify(msg []byte, keys *keyCache) error {
	var ok bool
	if k := keys.get(s.From); k != nil {
		ok = voi.VerifyExpandedWithOptions(k, msg, s.Sig[:], zip215)
	} else {
		ok = voi.VerifyWithOptions(voi.PublicKey(s.From[:]), msg, s.Sig[:], zip215)
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// signedBytes holds the bytes a transaction's signature covers, its memory
// reused from one transaction to the next.
type signedBytes struct{ payload, msg []byte }

// of returns the bytes tx's signature covers in d, valid until the next call.
func (b *signedBytes) of(d pay.Domain, tx Tx) []byte {
	b.payload = tx.appendPayload(b.payload[:0])
	b.msg = d.AppendSignedBytes(b.msg[:0], pay.KindTx, b.payload)
	return b.msg
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

// minBatchVerify is the smallest number of signatures checked together:
// below it one by one is faster (BenchmarkVerifyBatch).
const minBatchVerify = 4

// VerifyBatch checks the signatures of txs, the i-th error being nil when
// txs[i] verifies, as txs[i].Verify would say. Groups of at least
// minBatchVerify are checked together by ed25519 batch verification, about
// twice as fast per signature, split across the processors that are idle;
// a group that fails is checked again one by one to tell which failed.
//
// That batch and single verification always agree is why a transaction's
// signature follows ZIP 215 (cofactored, any point encoding, canonical S):
// the cofactorless check of RFC 8032 and a batch can disagree on a
// signature with a small-order component, and replicas of one shard that
// checked a batch differently must never disagree. Every signature
// RFC 8032 accepts is accepted, and for an honestly made key neither rule
// lets anyone without it sign, nor turn a signature into another one of
// the same transaction.
func VerifyBatch(d pay.Domain, txs []SignedTx) []error { return verifyBatch(d, txs, nil) }

// verifyBatch is VerifyBatch with the senders' expanded keys from keys
// (when not nil), split across the processors that are idle right now.
func verifyBatch(d pay.Domain, txs []SignedTx, keys *keyCache) []error {
	groups := 1
	if len(txs) >= 2*minBatchVerify { // the runtime is asked only when a split can be
		groups = verifyGroups(len(txs), spareProcs())
	}
	return verifyInGroups(d, txs, keys, groups)
}

// verifyInGroups checks txs in groups batches of about equal size, each
// on its own goroutine but the first, which is the caller's.
func verifyInGroups(d pay.Domain, txs []SignedTx, keys *keyCache, groups int) []error {
	errs := make([]error, len(txs))
	var wg sync.WaitGroup
	for g := 1; g < groups; g++ {
		lo, hi := g*len(txs)/groups, (g+1)*len(txs)/groups
		wg.Go(func() { verifyGroup(d, txs[lo:hi], errs[lo:hi], keys) })
	}
	first := len(txs) / max(groups, 1)
	verifyGroup(d, txs[:first], errs[:first], keys)
	wg.Wait()
	return errs
}

// verifyGroup sets errs[i] for txs[i], in one batch when there are enough.
func verifyGroup(d pay.Domain, txs []SignedTx, errs []error, keys *keyCache) {
	var b signedBytes // the batch verifier copies what it needs of a message
	if len(txs) >= minBatchVerify && batchVerifies(d, txs, keys, &b) {
		return
	}
	for i, tx := range txs {
		errs[i] = tx.verify(b.of(d, tx.Tx), keys)
	}
}

// batchVerifies reports whether every signature of txs verifies, checked
// as one batch; false says that one at least does not (a sender's key may
// be no point).
func batchVerifies(d pay.Domain, txs []SignedTx, keys *keyCache, b *signedBytes) bool {
	bv := keys.batchVerifier(len(txs))
	defer keys.putBatchVerifier(bv)
	for _, tx := range txs {
		if k := keys.get(tx.From); k != nil {
			bv.AddExpandedWithOptions(k, b.of(d, tx.Tx), tx.Sig[:], zip215)
		} else {
			bv.AddWithOptions(voi.PublicKey(tx.From[:]), b.of(d, tx.Tx), tx.Sig[:], zip215)
		}
	}
	return bv.VerifyBatchOnly(nil)
}

// channelIDDomain separates channel ids from every other hash.
const channelIDDomain = "x402/channel-id/v1"

// ChannelIDFor is the id of the channel that buyer opens with its
// transaction of the given nonce in domain d.
func ChannelIDFor(d pay.Domain, buyer pay.Account, nonce uint64) pay.ChannelID {
	b := wire.NewWriter(128).String(channelIDDomain).String(d.Chain).U32(d.Shard).Fixed(buyer[:]).U64(nonce).Bytes()
	return sha256.Sum256(b)
}
