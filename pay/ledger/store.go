package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/x402/x402/pay"
)

// Ledger is the ledger state in a bbolt file. It is safe for concurrent
// use: reads run in parallel, and bbolt serialises the transactions that
// apply.
type Ledger struct {
	db   *bolt.DB
	path string
	g    Genesis
	d    pay.Domain
	keys *keyCache // the senders' expanded keys, for checking their signatures
	// deferred holds applied batches not yet in the file (replicas only).
	deferred deferred
}

// Errors of open that OpenReplica tells apart (always wrapped).
var (
	errLocked  = errors.New("locked by another process")
	errNotOurs = errors.New("not a ledger file of this genesis")
	errDamaged = errors.New("corrupt ledger file")
)

// openOptions are knobs for tests.
type openOptions struct {
	noSync bool // skip fsync (tests, and OpenReplica: a crash may lose applied transactions)
}

// Open opens the ledger file at path, creating it (0600, in a 0700
// directory) and applying g when it is new; an existing file must have
// been created with the same genesis.
func Open(path string, g Genesis) (*Ledger, error) { return open(path, g, openOptions{}) }

func open(path string, g Genesis, o openOptions) (*Ledger, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: o.noSync})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("open ledger %s: %w", path, errLocked)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
			return nil, fmt.Errorf("open ledger %s: not a valid ledger file (corrupt?): %w: %w", path, errDamaged, err)
		}
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	l := &Ledger{db: db, path: path, g: g, d: g.Domain(), keys: newKeyCache()}
	if err := updateRecovering(db, l.initOrCheck); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return l, nil
}

// initOrCheck applies the genesis to a new file, or checks that an existing
// file was created from the same genesis.
func (l *Ledger) initOrCheck(tx *bolt.Tx) error {
	want := l.g.encode()
	if meta := tx.Bucket(bucketMeta); meta != nil {
		have := meta.Get(metaGenesis)
		if have == nil {
			return fmt.Errorf("%w (no genesis record)", errNotOurs)
		}
		if !bytes.Equal(have, want) {
			return fmt.Errorf("%w: the file was created with a different genesis", errNotOurs)
		}
		for _, name := range identityBuckets { // files from before SIM bindings
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q is missing", errDamaged, name)
			}
		}
		return nil
	}
	if k, _ := tx.Cursor().First(); k != nil {
		return fmt.Errorf("%w (it holds other data)", errNotOurs)
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	v := newView(tx)
	for i, a := range l.g.Allocations {
		if err := v.issue(a.Account, a.Asset, a.Amount); err != nil {
			return fmt.Errorf("genesis allocation %d: %w", i, err)
		}
	}
	v.put(bucketMeta, metaGenesis, want)
	v.put(bucketMeta, metaApplied, u64Bytes(0))
	return v.commit()
}

// Close closes the file.
func (l *Ledger) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", l.path, err)
	}
	return nil
}

// Genesis is the genesis the ledger was opened with.
func (l *Ledger) Genesis() Genesis { return l.g }

// Domain is the signing domain of the ledger.
func (l *Ledger) Domain() pay.Domain { return l.d }

// Account returns a's balances (only the assets it ever held) and last
// nonce; an account never seen has none.
func (l *Ledger) Account(a pay.Account) (AccountState, error) {
	st := AccountState{Balances: map[pay.Asset]pay.Amount{}}
	if err := l.settle(); err != nil {
		return AccountState{}, fmt.Errorf("account %s: %w", a, err)
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		if st.Nonce, err = newView(tx).nonce(a); err != nil {
			return err
		}
		c := tx.Bucket(bucketBalances).Cursor()
		for k, val := c.Seek(a[:]); k != nil && bytes.HasPrefix(k, a[:]); k, val = c.Next() {
			x, err := readU64(val, "balance")
			if err != nil {
				return err
			}
			st.Balances[pay.Asset(k[len(a):])] = pay.Amount(x)
		}
		return nil
	})
	if err != nil {
		return AccountState{}, fmt.Errorf("account %s: %w", a, err)
	}
	return st, nil
}

// Channel returns the channel id; an id never opened is an error wrapping
// ErrUnknownChannel.
func (l *Ledger) Channel(id pay.ChannelID) (ChannelState, error) {
	var c ChannelState
	err := l.read(func(v *view) error {
		var err error
		c, err = v.channel(id)
		return err
	})
	if err != nil {
		return ChannelState{}, fmt.Errorf("ledger: %w", err)
	}
	return c, nil
}

// Applied is the number of transactions applied since genesis.
func (l *Ledger) Applied() (uint64, error) {
	var n uint64
	err := l.read(func(v *view) error {
		var err error
		n, err = readU64(v.get(bucketMeta, metaApplied), "applied")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	return n, nil
}

// OpenReplica opens the ledger file of a shard replica at path and resets
// it to the genesis state; it never fsyncs it. A replica's durable state is
// its consensus log and stable checkpoint: at every start the consensus
// core restores the checkpoint's snapshot and executes the committed log
// over it, so this file is only a cache of that state, rebuilt from
// genesis each time, and a crash that leaves it behind or torn loses
// nothing. (Fsyncing it too would put a second fsync on every batch's path
// to its replies.) The file must still have been made from g, and is
// locked against a second process as by Open.
func OpenReplica(path string, g Genesis) (*Ledger, error) {
	l, err := open(path, g, openOptions{noSync: true})
	if errors.Is(err, errDamaged) {
		// A torn cache (a crash caught its unsynced writes): start afresh.
		if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			return nil, fmt.Errorf("open ledger %s: remove the unreadable cache: %w", path, rmErr)
		}
		l, err = open(path, g, openOptions{noSync: true})
	}
	if err != nil {
		return nil, err
	}
	if err := l.db.Update(l.resetToGenesis); err != nil {
		l.db.Close()
		return nil, fmt.Errorf("open ledger %s: reset to genesis: %w", path, err)
	}
	l.deferWrites(maxDeferredWrites)
	return l, nil
}

// resetToGenesis replaces the whole state with the genesis state.
func (l *Ledger) resetToGenesis(tx *bolt.Tx) error {
	var names [][]byte
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		if err := tx.DeleteBucket(name); err != nil {
			return fmt.Errorf("delete bucket %s: %w", name, err)
		}
	}
	return l.initOrCheck(tx)
}

// updateRecovering is db.Update, turning a bbolt panic on a damaged page
// into an error.
func updateRecovering(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", errDamaged, v)
		}
	}()
	return db.Update(fn)
}
