package boltdb

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("b")

// TestOpenMakesPrivateFileWithBuckets: the file is 0600 in a 0700
// directory, and the buckets exist.
func TestOpenMakesPrivateFileWithBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "x.db")
	db, err := Open(path, bucket, []byte("other"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucket, []byte("other")} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %s missing", b)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenLocked: a second open of a held file fails with a clear error.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path, bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Open(path, bucket); err == nil {
		t.Fatal("second open of a held file succeeded")
	}
}

// TestFreelistIsNotWrittenAndFilesAreShared: Open keeps the free-page list
// out of the file, and a file passes back and forth between Open and
// bbolt's defaults (a build before this choice) with every key intact and
// still writable; and the free pages Open finds by scanning the file are
// those bbolt's defaults read from the stored list.
func TestFreelistIsNotWrittenAndFilesAreShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if !db.NoFreelistSync || db.FreelistType != bolt.FreelistMapType {
		t.Fatalf("NoFreelistSync %v, freelist %q: want true, %q", db.NoFreelistSync, db.FreelistType, bolt.FreelistMapType)
	}
	want := map[string]string{}
	write := func(db *bolt.DB, round int) {
		t.Helper()
		for i := range 50 { // many commits, each freeing the pages the last wrote
			k, v := fmt.Sprintf("k%02d", i%10), fmt.Sprintf("v%d-%d-%0512d", round, i, i)
			if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(k), []byte(v)) }); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
	}
	check := func(db *bolt.DB) {
		t.Helper()
		got := map[string]string{}
		if err := db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error { got[string(k)] = string(v); return nil })
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d keys, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("key %s: %.20q, want %.20q", k, got[k], v)
			}
		}
	}
	write(db, 0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 4; round++ {
		if round%2 == 1 {
			db, err = bolt.Open(path, 0o600, nil) // bbolt's defaults: the list is stored
		} else {
			db, err = Open(path, bucket)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		check(db)
		write(db, round)
		check(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	free := func(db *bolt.DB, err error) int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Stats().FreePageN
	}
	free(bolt.Open(path, 0o600, nil)) // writes the list, read at the next open
	stored := free(bolt.Open(path, 0o600, nil))
	scanned := free(Open(path, bucket))
	if stored == 0 || scanned != stored {
		t.Fatalf("free pages: %d by the scan at Open, %d in the stored list (want equal, not 0)", scanned, stored)
	}
}
