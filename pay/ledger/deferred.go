package ledger

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Deferred writes, for a shard replica's ledger. Its file is a cache that
// OpenReplica rebuilds from genesis at every start (the replica's durable
// state is its consensus log), so an applied batch need not reach the file
// at once: its writes gather in memory, over the file, and go to the file
// in one bbolt transaction when something reads the file itself (a
// checkpoint's digest or snapshot, a query, the invariants) or when
// maxDeferredWrites keys are waiting. A batch then costs a read-only bbolt
// transaction, and a key that many batches write (a payee's balance, the
// count of transactions applied) is written once.

// maxDeferredWrites bounds the keys whose writes wait in memory: a few MB.
const maxDeferredWrites = 1 << 14

// deferred holds the writes of the batches applied since the last flush.
type deferred struct {
	mu     sync.Mutex // held by whatever reads or changes writes
	writes writeSet   // nil when the ledger writes every batch at once
	keys   int        // keys in writes
	limit  int        // keys that make update flush
}

// deferWrites makes l keep applied batches in memory until a reader needs
// the file or limit keys wait (see above); only for a file that is a cache.
func (l *Ledger) deferWrites(limit int) {
	l.deferred.writes, l.deferred.limit = writeSet{}, limit
}

// update runs fn on a view of the state and, if it succeeds, makes its
// writes part of the state: in the file before it returns, or deferred.
// fn may keep or discard each transaction's writes as it goes (view.keep,
// view.discard); what it leaves pending is kept too.
func (l *Ledger) update(fn func(v *view) error) error {
	if l.deferred.writes == nil {
		return l.db.Update(func(btx *bolt.Tx) error {
			v := newView(btx)
			if err := fn(v); err != nil {
				return err
			}
			return v.commit()
		})
	}
	l.deferred.mu.Lock()
	defer l.deferred.mu.Unlock()
	err := l.db.View(func(btx *bolt.Tx) error {
		v := newView(btx)
		v.under = l.deferred.writes
		if err := fn(v); err != nil {
			return err
		}
		v.keep()
		l.deferred.keys += l.deferred.writes.merge(v.kept)
		return nil
	})
	if err != nil {
		return err
	}
	if l.deferred.keys >= l.deferred.limit {
		// A failed flush keeps the writes, for the next one to retry; a
		// reader that needs the file gets its error.
		_ = l.flushLocked()
	}
	return nil
}

// read runs fn on a read-only view of the state, deferred writes included.
func (l *Ledger) read(fn func(v *view) error) error {
	if l.deferred.writes == nil {
		return l.db.View(func(btx *bolt.Tx) error { return fn(newView(btx)) })
	}
	l.deferred.mu.Lock()
	defer l.deferred.mu.Unlock()
	return l.db.View(func(btx *bolt.Tx) error {
		v := newView(btx)
		v.under = l.deferred.writes
		return fn(v)
	})
}

// settle writes the deferred writes to the file, for a reader of the file
// itself.
func (l *Ledger) settle() error {
	if l.deferred.writes == nil {
		return nil
	}
	l.deferred.mu.Lock()
	defer l.deferred.mu.Unlock()
	return l.flushLocked()
}

func (l *Ledger) flushLocked() error {
	if l.deferred.keys == 0 {
		return nil
	}
	err := l.db.Update(func(btx *bolt.Tx) error {
		v := newView(btx)
		v.kept = l.deferred.writes
		return v.commit()
	})
	if err != nil {
		return err
	}
	l.deferred.keys = 0
	return nil
}

// forgetDeferred drops the deferred writes, for a state that replaces
// them all (Restore); the caller holds l.deferred.mu.
func (l *Ledger) forgetDeferred() {
	if l.deferred.writes != nil {
		l.deferred.writes.clear()
		l.deferred.keys = 0
	}
}
