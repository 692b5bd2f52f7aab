package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/x402/x402/internal/wire"
)

// snapshotVersion tags the snapshot encoding.
const snapshotVersion = 1

// Snapshot encodes the whole state — every bucket's keys and values, in
// bbolt's order — for state transfer to a replica that fell behind.
func (l *Ledger) Snapshot() ([]byte, error) {
	if err := l.settle(); err != nil {
		return nil, fmt.Errorf("ledger snapshot: %w", err)
	}
	w := wire.NewWriter(1 << 16).U8(snapshotVersion).U32(uint32(len(allBuckets)))
	err := l.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("bucket %q is missing", name)
			}
			// The pair count goes before the pairs: written as 0 and
			// set once they are counted.
			w.Var(name).U32(0)
			at := len(w.Bytes()) - 4
			count := uint32(0)
			if err := b.ForEach(func(k, v []byte) error {
				w.Var(k).Var(v)
				count++
				return nil
			}); err != nil {
				return err
			}
			binary.BigEndian.PutUint32(w.Bytes()[at:], count)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger snapshot: %w", err)
	}
	return w.Bytes(), nil
}

// maxSnapshotPairs bounds what a snapshot may hold per bucket.
const maxSnapshotPairs = 1 << 26

// Restore replaces the whole state with a snapshot taken by Snapshot on a
// ledger of the same genesis, in one transaction: a bad snapshot changes
// nothing.
func (l *Ledger) Restore(snapshot []byte) error {
	r := wire.NewReader(snapshot)
	if v := r.U8(); v != snapshotVersion {
		return fmt.Errorf("ledger restore: unknown snapshot version %d", v)
	}
	n := r.U32()
	if r.Err() == nil && int(n) != len(allBuckets) {
		return fmt.Errorf("ledger restore: snapshot has %d buckets, want %d", n, len(allBuckets))
	}
	type bucket struct {
		name  []byte
		pairs [][2][]byte
	}
	buckets := make([]bucket, 0, len(allBuckets))
	for i := 0; i < int(n) && r.Err() == nil; i++ {
		b := bucket{name: r.Var(64)}
		if !bytes.Equal(b.name, allBuckets[i]) {
			r.Fail(fmt.Errorf("bucket %d is %q, want %q", i, b.name, allBuckets[i]))
			break
		}
		count := r.U32()
		if count > maxSnapshotPairs {
			r.Fail(fmt.Errorf("bucket %q claims %d pairs", b.name, count))
			break
		}
		for j := uint32(0); j < count && r.Err() == nil; j++ {
			b.pairs = append(b.pairs, [2][]byte{r.Var(wire.MaxBytes), r.Var(wire.MaxBytes)})
		}
		buckets = append(buckets, b)
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("ledger restore: %w", err)
	}
	// The snapshot replaces the whole state, deferred writes included.
	l.deferred.mu.Lock()
	defer l.deferred.mu.Unlock()
	l.forgetDeferred()
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if bytes.Equal(b.name, bucketMeta) {
				if !hasPair(b.pairs, metaGenesis, l.g.encode()) {
					return errors.New("the snapshot was taken from a different genesis")
				}
			}
			if err := tx.DeleteBucket(b.name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
			nb, err := tx.CreateBucket(b.name)
			if err != nil {
				return err
			}
			for _, p := range b.pairs {
				if err := nb.Put(p[0], p[1]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger restore: %w", err)
	}
	return nil
}

func hasPair(pairs [][2][]byte, k, v []byte) bool {
	for _, p := range pairs {
		if bytes.Equal(p[0], k) {
			return bytes.Equal(p[1], v)
		}
	}
	return false
}
