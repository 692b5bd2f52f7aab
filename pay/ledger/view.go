package ledger

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/pay"
)

// The buckets of the ledger file. Every key and value is written by this
// package; Digest hashes all of them in key order.
var (
	bucketMeta     = []byte("meta")     // metaGenesis, metaApplied
	bucketNonces   = []byte("nonces")   // account -> last nonce (u64)
	bucketBalances = []byte("balances") // account || asset -> amount (u64)
	bucketChannels = []byte("channels") // channel id -> encodeChannel
	bucketFaucet   = []byte("faucet")   // account || asset -> 1
	bucketSupply   = []byte("supply")   // asset -> issued (u64) || burned (u64)

	bucketBindings    = []byte("sim-bindings")    // account -> encodeBinding
	bucketCommitments = []byte("sim-commitments") // IMSI commitment -> account

	allBuckets = [][]byte{bucketMeta, bucketNonces, bucketBalances, bucketChannels, bucketFaucet, bucketSupply, bucketBindings, bucketCommitments}

	// identityBuckets came after the first ledger files; opening an older
	// file creates them.
	identityBuckets = [][]byte{bucketBindings, bucketCommitments}
)

var (
	metaGenesis = []byte("genesis") // Genesis.encode of the genesis applied
	metaApplied = []byte("applied") // number of transactions applied (u64)
)

// view is one transaction's view of the state: reads see its own pending
// writes over those of the transactions kept before it, over the bbolt
// transaction. keep sets a transaction's writes aside only if it is
// applied, so a rejected transaction changes nothing; commit copies what
// was kept into bbolt, in key order, once for a whole batch: a key that
// every transaction of a batch writes (a payee's balance, the count of
// transactions applied) is written to the file once.
type view struct {
	tx     *bolt.Tx
	writes writeSet // this transaction's
	kept   writeSet // the transactions kept
	under  writeSet // deferred writes of earlier batches, over the file (nil: none)
}

// writeSet is writes by bucket name and key; a nil value deletes. Its maps
// are indexed with string(b) of byte slices, which Go does without a copy.
type writeSet map[string]map[string][]byte

func (w writeSet) get(bucket, key []byte) ([]byte, bool) {
	val, ok := w[string(bucket)][string(key)]
	return val, ok
}

// set records a write and reports whether key is new to w.
func (w writeSet) set(bucket, key string, value []byte) bool {
	b := w[bucket]
	if b == nil {
		b = map[string][]byte{}
		w[bucket] = b
	}
	_, had := b[key]
	b[key] = value
	return !had
}

// merge copies from's writes into w, over w's, and empties from; it
// returns how many keys were new to w.
func (w writeSet) merge(from writeSet) (added int) {
	for name, b := range from {
		for k, val := range b {
			if w.set(name, k, val) {
				added++
			}
		}
		clear(b)
	}
	return added
}

// clear empties w, keeping its maps.
func (w writeSet) clear() {
	for _, b := range w {
		clear(b)
	}
}

func newView(tx *bolt.Tx) *view {
	return &view{tx: tx, writes: writeSet{}, kept: writeSet{}}
}

func (v *view) get(bucket, key []byte) []byte {
	if w, ok := v.writes.get(bucket, key); ok {
		return w
	}
	if w, ok := v.kept.get(bucket, key); ok {
		return w
	}
	if w, ok := v.under.get(bucket, key); ok {
		return w
	}
	b := v.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	return b.Get(key)
}

// put writes value under key. value must be the caller's own memory, never
// a slice get returned: bbolt's memory is valid only during its
// transaction, and a replica keeps writes past it (see deferred.go).
func (v *view) put(bucket, key, value []byte) { v.writes.set(string(bucket), string(key), value) }

// del deletes key from bucket (a nil pending write).
func (v *view) del(bucket, key []byte) { v.writes.set(string(bucket), string(key), nil) }

// keep sets the pending writes aside for commit: the transaction applies.
func (v *view) keep() { v.kept.merge(v.writes) }

// discard drops the pending writes: the transaction is rejected.
func (v *view) discard() { v.writes.clear() }

// commit writes the pending and kept writes into the bbolt transaction,
// bucket by bucket in key order; they are forgotten only if all succeed.
func (v *view) commit() error {
	v.keep()
	for _, name := range slices.Sorted(maps.Keys(v.kept)) {
		writes := v.kept[name]
		if len(writes) == 0 {
			continue
		}
		b := v.tx.Bucket([]byte(name))
		if b == nil {
			return fmt.Errorf("ledger file lacks bucket %q", name)
		}
		for _, k := range slices.Sorted(maps.Keys(writes)) {
			if val := writes[k]; val == nil {
				if err := b.Delete([]byte(k)); err != nil {
					return fmt.Errorf("delete from %s: %w", name, err)
				}
			} else if err := b.Put([]byte(k), val); err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
		}
	}
	v.kept.clear()
	return nil
}

func u64Bytes(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }

// readU64 decodes an 8-byte value; absent is 0.
func readU64(b []byte, what string) (uint64, error) {
	switch len(b) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(b), nil
	default:
		return 0, fmt.Errorf("corrupt %s record (%d bytes)", what, len(b))
	}
}

func assetKey(a pay.Account, asset pay.Asset) []byte {
	return append(append(make([]byte, 0, len(a)+len(asset)), a[:]...), asset...)
}

func (v *view) nonce(a pay.Account) (uint64, error) {
	return readU64(v.get(bucketNonces, a[:]), "nonce")
}

func (v *view) setNonce(a pay.Account, n uint64) { v.put(bucketNonces, a[:], u64Bytes(n)) }

func (v *view) balance(a pay.Account, asset pay.Asset) (pay.Amount, error) {
	n, err := readU64(v.get(bucketBalances, assetKey(a, asset)), "balance")
	return pay.Amount(n), err
}

func (v *view) setBalance(a pay.Account, asset pay.Asset, x pay.Amount) {
	v.put(bucketBalances, assetKey(a, asset), u64Bytes(uint64(x)))
}

// credit adds x to a's balance of asset.
func (v *view) credit(a pay.Account, asset pay.Asset, x pay.Amount) error {
	if x == 0 {
		return nil
	}
	bal, err := v.balance(a, asset)
	if err != nil {
		return err
	}
	sum, err := bal.Add(x)
	if err != nil {
		return fmt.Errorf("balance of %s: %w", a, err)
	}
	v.setBalance(a, asset, sum)
	return nil
}

// debit takes x from a's balance of asset, failing if the balance is short.
func (v *view) debit(a pay.Account, asset pay.Asset, x pay.Amount) error {
	bal, err := v.balance(a, asset)
	if err != nil {
		return err
	}
	if bal < x {
		return fmt.Errorf("insufficient %s balance: have %d, need %d", asset, bal, x)
	}
	v.setBalance(a, asset, bal-x)
	return nil
}

func (v *view) channel(id pay.ChannelID) (ChannelState, error) {
	b := v.get(bucketChannels, id[:])
	if b == nil {
		return ChannelState{}, fmt.Errorf("channel %s: %w", id, ErrUnknownChannel)
	}
	return decodeChannel(id, b)
}

func (v *view) setChannel(c ChannelState) { v.put(bucketChannels, c.ID[:], encodeChannel(c)) }

// supply is what has been issued (genesis, mint, faucet) and burned.
func (v *view) supply(asset pay.Asset) (issued, burned pay.Amount, err error) {
	b := v.get(bucketSupply, []byte(asset))
	switch len(b) {
	case 0:
		return 0, 0, nil
	case 16:
		return pay.Amount(binary.BigEndian.Uint64(b)), pay.Amount(binary.BigEndian.Uint64(b[8:])), nil
	default:
		return 0, 0, fmt.Errorf("corrupt supply record of %s (%d bytes)", asset, len(b))
	}
}

// issue records x more of asset created in a's balance.
func (v *view) issue(a pay.Account, asset pay.Asset, x pay.Amount) error {
	issued, burned, err := v.supply(asset)
	if err != nil {
		return err
	}
	if issued, err = issued.Add(x); err != nil {
		return fmt.Errorf("supply of %s: %w", asset, err)
	}
	if err := v.credit(a, asset, x); err != nil {
		return err
	}
	v.put(bucketSupply, []byte(asset), binary.BigEndian.AppendUint64(u64Bytes(uint64(issued)), uint64(burned)))
	return nil
}

// burn records x of asset destroyed from a's balance.
func (v *view) burn(a pay.Account, asset pay.Asset, x pay.Amount) error {
	issued, burned, err := v.supply(asset)
	if err != nil {
		return err
	}
	if burned, err = burned.Add(x); err != nil {
		return fmt.Errorf("burned %s: %w", asset, err)
	}
	if err := v.debit(a, asset, x); err != nil {
		return err
	}
	v.put(bucketSupply, []byte(asset), binary.BigEndian.AppendUint64(u64Bytes(uint64(issued)), uint64(burned)))
	return nil
}
