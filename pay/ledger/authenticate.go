package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/x402/x402/pay"
)

// sigCacheSize bounds each of the two generations of a replica's cache of
// verified transactions; an entry lives from the reader goroutine that
// authenticates a request to the execution of its batch, so the cache
// holds at least the requests in flight (4,000 senders at once still
// verify each transaction once per replica). Small enough to stay in the
// processor's cache: 1<<12 took 0.93x the CPU per transaction of 1<<14
// at `bench shard --rate 0` (BENCHMARKS.md).
const sigCacheSize = 1 << 12

// sigCache remembers which encoded transactions (SignedTx.Marshal bytes,
// by their SHA-256) decoded to a transaction whose signature verified, so
// that a replica checks each transaction's signature once: when it
// authenticates the request that carries it (on a transport goroutine),
// not again on the event loop nor in Apply. A hit is only ever bytes whose
// transaction verified, so it is a pure function of those bytes.
type sigCache struct {
	mu       sync.Mutex
	cur, old map[[32]byte]struct{}
	// checks counts the signature verifications actually made.
	checks atomic.Uint64
	// distrust is set when the last group checked held a bad signature:
	// the next group is checked one by one, so a client that sends bad
	// signatures among good ones costs a failed batch check once, not on
	// every batch (a failed batch is checked again one by one anyway).
	distrust atomic.Bool
	// keys holds the senders' expanded keys.
	keys *keyCache
}

func newSigCache(keys *keyCache) *sigCache {
	return &sigCache{cur: map[[32]byte]struct{}{}, old: map[[32]byte]struct{}{}, keys: keys}
}

func (c *sigCache) hit(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.cur[k]
	if !ok {
		_, ok = c.old[k]
	}
	return ok
}

func (c *sigCache) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= sigCacheSize {
		c.old, c.cur = c.cur, make(map[[32]byte]struct{}, sigCacheSize)
	}
	c.cur[k] = struct{}{}
}

// verify checks tx, decoded from enc, in domain d, through the cache.
func (c *sigCache) verify(d pay.Domain, tx SignedTx, enc []byte) error {
	k := sha256.Sum256(enc)
	if c.hit(k) {
		return nil
	}
	c.checks.Add(1)
	var b signedBytes
	if err := tx.verify(b.of(d, tx.Tx), c.keys); err != nil {
		return err
	}
	c.add(k)
	return nil
}

// verifyMany checks txs, decoded from the encodings whose SHA-256 are keys,
// together (VerifyBatch; one by one after a group with a bad signature,
// see distrust) and caches those that verify; ok[i] says whether txs[i]
// did.
func (c *sigCache) verifyMany(d pay.Domain, txs []SignedTx, keys [][32]byte, ok []bool) {
	if len(txs) == 0 {
		return
	}
	c.checks.Add(uint64(len(txs)))
	var errs []error
	if c.distrust.Load() {
		errs = make([]error, len(txs))
		var b signedBytes
		for i, tx := range txs {
			errs[i] = tx.verify(b.of(d, tx.Tx), c.keys)
		}
	} else {
		errs = verifyBatch(d, txs, c.keys)
	}
	bad := false
	for i, err := range errs {
		if ok[i] = err == nil; ok[i] {
			c.add(keys[i])
		} else {
			bad = true
		}
	}
	c.distrust.Store(bad)
}

// uncached collects transactions whose signatures are not in the cache,
// with where each came from, to be checked together.
type uncached struct {
	txs  []SignedTx
	keys [][32]byte // SHA-256 of each one's encoding
	idx  []int
}

func (u *uncached) add(i int, tx SignedTx, key [32]byte) {
	u.txs, u.keys, u.idx = append(u.txs, tx), append(u.keys, key), append(u.idx, i)
}

// grow makes room for n more transactions.
func (u *uncached) grow(n int) {
	u.txs, u.keys, u.idx = slices.Grow(u.txs, n), slices.Grow(u.keys, n), slices.Grow(u.idx, n)
}

// check verifies them together (sigCache.verifyMany) and reports each
// one's answer to result, by the index it was added with.
func (u *uncached) check(c *sigCache, d pay.Domain, result func(i int, verified bool)) {
	ok := make([]bool, len(u.txs))
	c.verifyMany(d, u.txs, u.keys, ok)
	for j, i := range u.idx {
		result(i, ok[j])
	}
}

// AuthenticateRequest lets a shard order a transaction without a separate
// request signature (pbft.AuthenticateFunc, pbft.UnsignedRequest): the
// unsigned request of client at timestamp is authentic when its op is a
// transaction (opTx) from the account whose key is client, with nonce
// timestamp, and its signature verifies in the ledger's domain. The
// transaction's signature covers its nonce, so it binds the request's
// timestamp: nobody without the account's key, a Byzantine primary
// included, can make a request of that client at any timestamp it did not
// sign, and the consensus layer's exactly-once (client, timestamp) is the
// ledger's own (account, nonce). The op's clock stamp is not covered, as
// it is not by any transaction signature (see Replicated). It is safe for
// concurrent use and a pure function of its arguments; what verified is
// cached, so Apply does not verify the transaction again.
//
// A replica's clock report (opClock, see ClockOp) is authentic when client
// is the key of the replica it names, timestamp is its time and the
// replica's signature verifies.
func (r *Replicated) AuthenticateRequest(client [32]byte, timestamp uint64, op []byte) bool {
	kind, _, payload, err := decodeOp(op)
	if err != nil {
		return false
	}
	if kind == opClock {
		rep, err := r.clockReport(payload)
		return err == nil && uint64(rep.Time) == timestamp && ed25519.PublicKey(client[:]).Equal(r.replicas[rep.Replica])
	}
	if kind != opTx {
		return false
	}
	tx, err := UnmarshalTx(payload)
	if err != nil || tx.From != pay.Account(client) || tx.Nonce != timestamp {
		return false
	}
	return r.sigs.verify(r.l.d, tx, payload) == nil
}

// AuthenticateRequests answers AuthenticateRequest for many requests at
// once, the i-th being (clients[i], timestamps[i], ops[i]): the
// transactions not in the cache have their signatures checked together,
// about twice as fast per signature as one by one (VerifyBatch). It
// implements pbft.BatchAuthenticator, so a backup checks a pre-prepare's
// batch this way. Its answers are AuthenticateRequest's, and it caches
// what verified, as that does.
func (r *Replicated) AuthenticateRequests(clients [][32]byte, timestamps []uint64, ops [][]byte) []bool {
	ok := make([]bool, len(ops))
	var u uncached
	for i, op := range ops {
		kind, _, payload, err := decodeOp(op)
		if err != nil || kind != opTx {
			ok[i] = err == nil && r.AuthenticateRequest(clients[i], timestamps[i], op)
			continue
		}
		tx, err := UnmarshalTx(payload)
		if err != nil || tx.From != pay.Account(clients[i]) || tx.Nonce != timestamps[i] {
			continue
		}
		k := sha256.Sum256(payload)
		if r.sigs.hit(k) {
			ok[i] = true
			continue
		}
		if len(u.txs) == 0 {
			u.grow(len(ops) - i) // room for the rest: most of a fresh batch is not cached
		}
		u.add(i, tx, k)
	}
	u.check(r.sigs, r.l.d, func(i int, verified bool) { ok[i] = verified })
	return ok
}

// SignatureChecks returns how many transaction signatures r has verified
// (cache hits are not counted).
func (r *Replicated) SignatureChecks() uint64 { return r.sigs.checks.Load() }

// TxID identifies a signed transaction in the results a shard returns: the
// SHA-256 of its encoding, in hex.
func TxID(tx SignedTx) string {
	id := txID(tx.Marshal())
	return hex.EncodeToString(id[:])
}

// txID is the id of the transaction encoded as enc.
func txID(enc []byte) [32]byte { return sha256.Sum256(enc) }

// txResult is the result of a transaction op: its receipt and which
// transaction it is for, so that a client that ordered it under its
// account's (client, nonce) can tell its own transaction's result from
// that of another transaction with the same nonce.
type txResult struct {
	Receipt
	Tx [32]byte // txID; zero when the op held no transaction
}
