package storage

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/consensus/pbft"
)

func testIdentity(t *testing.T) Identity {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Domain: pbft.Domain{ChainID: "test", Shard: 2}, Replica: 1, Key: pub}
}

func digest(b byte) pbft.Digest {
	var d pbft.Digest
	for i := range d {
		d[i] = b
	}
	return d
}

func sampleEntry(seq uint64) pbft.Entry {
	req := &pbft.Request{Timestamp: seq, Op: []byte("op")}
	req.Client[0] = byte(seq)
	pp := &pbft.PrePrepare{View: 1, Seq: seq, Digest: digest(byte(seq)), Replica: 1, Batch: []*pbft.Request{req}}
	e := pbft.Entry{Seq: seq, PrePrepare: pp}
	if seq%2 == 0 {
		e.Prepared = &pbft.PreparedCert{PrePrepare: pp, Prepares: []*pbft.Prepare{
			{View: 1, Seq: seq, Digest: pp.Digest, Replica: 2}, {View: 1, Seq: seq, Digest: pp.Digest, Replica: 3}}}
	}
	if seq%3 == 0 {
		e.CommitPP = pp
		e.Commits = []*pbft.Commit{{View: 1, Seq: seq, Digest: pp.Digest, Replica: 0},
			{View: 1, Seq: seq, Digest: pp.Digest, Replica: 1}, {View: 1, Seq: seq, Digest: pp.Digest, Replica: 2}}
	}
	return e
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s", "state.db")
	id := testIdentity(t)
	s, err := Open(path, id)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Load(); err != nil || p != nil {
		t.Fatalf("fresh file loads %+v, %v; want nothing", p, err)
	}
	var entries []pbft.Entry
	for seq := uint64(1); seq <= 8; seq++ {
		entries = append(entries, sampleEntry(seq))
	}
	if err := s.Save(&pbft.Persist{Hard: &pbft.HardState{View: 3, Changing: true}, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	// A later entry for a sequence replaces the earlier one.
	e5 := sampleEntry(5)
	e5.PrePrepare = nil
	cp := &pbft.StableCheckpoint{Seq: 4, Digest: digest(9), AppDigest: digest(8),
		Proof:    []*pbft.Checkpoint{{Seq: 4, Digest: digest(9), Replica: 0}, {Seq: 4, Digest: digest(9), Replica: 2}},
		Clients:  []pbft.ClientRecord{{Timestamp: 7, Result: []byte("r")}},
		AppState: []byte("application state")}
	if err := s.Save(&pbft.Persist{Checkpoint: cp, Entries: []pbft.Entry{e5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, %v; want 0600", fi.Mode(), err)
	}
	s, err = Open(path, id)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := &pbft.Persisted{Hard: pbft.HardState{View: 3, Changing: true}, Checkpoint: cp,
		Entries: []pbft.Entry{e5, entries[5], entries[6], entries[7]}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", p, want)
	}
}

func TestForeignAndCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	id := testIdentity(t)
	s, err := Open(path, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&pbft.Persist{Entries: []pbft.Entry{sampleEntry(1), sampleEntry(2)}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	other := id
	other.Replica = 2
	if _, err := Open(path, other); !errors.Is(err, ErrForeign) {
		t.Fatalf("open as another replica: %v, want ErrForeign", err)
	}

	pristine, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(name string, bucket, key, value []byte) {
		t.Helper()
		if err := os.WriteFile(path, pristine, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) })
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, id)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Load()
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: load %v, want ErrCorrupt", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	good := encodeEntry(ptr(sampleEntry(2)))
	corrupt("truncated entry", bucketEntries, seqKey(2), good[:len(good)-3])
	corrupt("trailing bytes", bucketEntries, seqKey(2), append(good, 0))
	corrupt("entry under another sequence", bucketEntries, seqKey(3), good)
	corrupt("bad hard state", bucketMeta, keyHard, []byte{1, 2, 3})
	corrupt("bad checkpoint", bucketMeta, keyCheckpoint, []byte{byte(pbft.KindCommit)})

	if err := os.WriteFile(path, []byte("not a bbolt file at all, not a bbolt file at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, id); err == nil {
		t.Fatal("opened a garbage file")
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzDecodeEntry(f *testing.F) {
	for seq := uint64(1); seq <= 6; seq++ {
		f.Add(encodeEntry(ptr(sampleEntry(seq))))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		if _, err := decodeEntry(encodeEntry(&e)); err != nil {
			t.Fatalf("re-encoding a decoded entry fails: %v", err)
		}
	})
}
