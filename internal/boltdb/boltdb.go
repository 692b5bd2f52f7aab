// Package boltdb owns how the appliance opens its bbolt state files: mode
// 0600 in a 0700 directory, a short lock timeout with a clear error when
// another process holds the file, and the buckets the caller needs.
package boltdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// options are how every state file is opened. bbolt's list of free pages
// is kept as a map and not written with each commit (NoFreelistSync): a
// commit writes fewer pages before its fsync, and the list is rebuilt by a
// scan of the file at open (these files are small). A file written either
// way opens either way (bbolt rebuilds a list it did not store and drops
// one it will not keep), so builds before and after this choice share
// their files. The consensus log of a shard replica commits this way
// about 1.05x as many transactions a second (BENCHMARKS.md).
func options() *bolt.Options {
	return &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
}

// Open opens (creating) the bbolt file at path with the given buckets.
func Open(path string, buckets ...[]byte) (*bolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, options())
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: locked by another process", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
