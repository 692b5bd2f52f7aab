package storage

import (
	"bytes"
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
	return Identity{Domain: testDomain, Replica: 1, Key: pub}
}

var testDomain = pbft.Domain{ChainID: "test", Shard: 2}

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
	batch := []*pbft.Request{req}
	pp := &pbft.PrePrepare{View: 1, Seq: seq, Digest: testDomain.BatchDigest(batch), Replica: 1, Batch: batch}
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
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			if own := b.Bucket(key); own != nil { // a batch in its bucket
				if value == nil {
					return b.DeleteBucket(key)
				}
				return own.Put(keyBatch, value)
			}
			if value == nil {
				return b.Delete(key)
			}
			return b.Put(key, value)
		})
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
	e2 := sampleEntry(2)
	k2 := batchKey(2, e2.PrePrepare.Digest)
	corrupt("missing batch", bucketBatches, k2, nil)
	corrupt("batch of another digest", bucketBatches, k2, encodeBatch(sampleEntry(3).PrePrepare.Batch))
	corrupt("garbage batch", bucketBatches, k2, []byte{0, 0, 0, 1, 9})
	corrupt("empty batch", bucketBatches, k2, []byte{})
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

// TestBatchIsWrittenOnce: an entry saved as it is accepted, prepared and
// committed writes its batch once, in a bucket of its own; a checkpoint
// deletes the batches at or below it with their entries.
func TestBatchIsWrittenOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, testIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	full := sampleEntry(6)
	big := &pbft.Request{Timestamp: 1, Op: make([]byte, 64<<10)}
	full.PrePrepare.Batch = append(full.PrePrepare.Batch, big)
	full.PrePrepare.Digest = testDomain.BatchDigest(full.PrePrepare.Batch)
	accepted := pbft.Entry{Seq: 6, PrePrepare: full.PrePrepare}
	prepared := accepted
	prepared.Prepared = full.Prepared
	for _, e := range []pbft.Entry{accepted, prepared, full} {
		if err := s.Save(&pbft.Persist{Entries: []pbft.Entry{e, sampleEntry(7)}}); err != nil {
			t.Fatal(err)
		}
	}
	records := func(bucket []byte) (n, size int) {
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			return b.ForEach(func(k, v []byte) error {
				if bytes.Equal(bucket, bucketBatches) {
					own := b.Bucket(k)
					if own == nil || own.Stats().KeyN != 1 {
						t.Errorf("batch %x is not alone in a bucket of its own", k)
					}
					v = getBatch(b, k)
				}
				n, size = n+1, size+len(v)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, size
	}
	if n, size := records(bucketBatches); n != 2 || size < 64<<10 || size > 65<<10 {
		t.Fatalf("%d batch records of %d bytes, want 2 holding the 64 KiB batch once", n, size)
	}
	if _, size := records(bucketEntries); size > 4<<10 {
		t.Fatalf("entries of %d bytes carry the batch", size)
	}
	p, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Entries, []pbft.Entry{full, sampleEntry(7)}) {
		t.Fatalf("loaded %+v", p.Entries)
	}
	cp := &pbft.StableCheckpoint{Seq: 6, Digest: digest(1), AppDigest: digest(2)}
	if err := s.Save(&pbft.Persist{Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	if n, _ := records(bucketBatches); n != 1 {
		t.Fatalf("%d batch records after the checkpoint at 6, want sequence 7's", n)
	}
}

// openOlderFile makes a state file that claims format version and holds
// what write puts in it, then opens it as a replica would (upgrading it);
// the store is closed with the test.
func openOlderFile(t *testing.T, version byte, write func(*bolt.Tx) error) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	id := testIdentity(t)
	s, err := Open(path, id)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyFormat, []byte{0, 0, 0, version}); err != nil {
			return err
		}
		return write(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestVersion2BatchesStillLoad: a state file of format 2, whose batches
// are plain values of the batches bucket, loads, takes new entries (their
// batches in buckets of their own), and a checkpoint deletes old and new
// batches alike.
func TestVersion2BatchesStillLoad(t *testing.T) {
	old := []pbft.Entry{sampleEntry(5), sampleEntry(6)}
	s := openOlderFile(t, 2, func(tx *bolt.Tx) error {
		for _, e := range old {
			if err := tx.Bucket(bucketEntries).Put(seqKey(e.Seq), encodeEntry(&e)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketBatches).Put(batchKey(e.Seq, e.PrePrepare.Digest), encodeBatch(e.PrePrepare.Batch)); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.Save(&pbft.Persist{Entries: []pbft.Entry{sampleEntry(6), sampleEntry(7)}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Load()
	if err != nil || !reflect.DeepEqual(p.Entries, []pbft.Entry{old[0], old[1], sampleEntry(7)}) {
		t.Fatalf("loaded %+v, %v", p, err)
	}
	kinds := func() (plain, own int) {
		err := s.db.View(func(tx *bolt.Tx) error {
			if f := tx.Bucket(bucketMeta).Get(keyFormat); !bytes.Equal(f, []byte{0, 0, 0, formatVersion}) {
				t.Errorf("format %x after open, want %d", f, formatVersion)
			}
			b := tx.Bucket(bucketBatches)
			return b.ForEach(func(k, v []byte) error {
				if b.Bucket(k) != nil {
					own++
				} else {
					plain++
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return plain, own
	}
	if plain, own := kinds(); plain != 2 || own != 1 {
		t.Fatalf("%d plain and %d own batches, want 5 and 6 plain (6 not written again), 7 in its bucket", plain, own)
	}
	cp := &pbft.StableCheckpoint{Seq: 7, Digest: digest(1), AppDigest: digest(2)}
	if err := s.Save(&pbft.Persist{Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	if plain, own := kinds(); plain != 0 || own != 0 {
		t.Fatalf("%d plain and %d own batches after the checkpoint at 7, want none", plain, own)
	}
}

// TestVersion1FileIsUpgraded: a state file of format 1, whose entries
// carry their batches, loads and takes new entries.
func TestVersion1FileIsUpgraded(t *testing.T) {
	old := sampleEntry(6)
	s := openOlderFile(t, 1, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEntries).Put(seqKey(6), encodeEntryV2(&old))
	})
	if err := s.Save(&pbft.Persist{Entries: []pbft.Entry{sampleEntry(7)}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Load()
	if err != nil || !reflect.DeepEqual(p.Entries, []pbft.Entry{old, sampleEntry(7)}) {
		t.Fatalf("loaded %+v, %v", p, err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for seq := uint64(1); seq <= 6; seq++ {
		f.Add(encodeEntry(ptr(sampleEntry(seq))))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, _, err := decodeEntry(b)
		if err != nil {
			return
		}
		if _, _, err := decodeEntry(encodeEntry(&e)); err != nil {
			t.Fatalf("re-encoding a decoded entry fails: %v", err)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(nil))
	for seq := uint64(1); seq <= 3; seq++ {
		f.Add(encodeBatch(sampleEntry(seq).PrePrepare.Batch))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := decodeBatch(b)
		if err != nil {
			return
		}
		if again, err := decodeBatch(encodeBatch(batch)); err != nil || len(again) != len(batch) {
			t.Fatalf("re-encoding a decoded batch: %d requests, %v", len(again), err)
		}
	})
}

// TestHardStateKeepsTheNewView: the hard state of a view entered by a
// new-view message keeps it across a restart; a record written before it
// was kept still loads, and a new-view of another view, or another message
// in its place, is corruption.
func TestHardStateKeepsTheNewView(t *testing.T) {
	pp := sampleEntry(2).PrePrepare
	nv := &pbft.NewView{View: 4, Replica: 0,
		ViewChanges: []*pbft.ViewChange{{View: 4, Replica: 1, StableSeq: 0}, {View: 4, Replica: 2}, {View: 4, Replica: 3}},
		PrePrepares: []*pbft.PrePrepare{pp}}
	path := filepath.Join(t.TempDir(), "state.db")
	id := testIdentity(t)
	s, err := Open(path, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&pbft.Persist{Hard: &pbft.HardState{View: 4, NewView: nv}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if p.Hard.View != 4 || p.Hard.Changing || p.Hard.NewView == nil || !bytes.Equal(pbft.Encode(p.Hard.NewView), pbft.Encode(nv)) {
		t.Fatalf("loaded hard state %+v, want view 4 with its new-view", p.Hard)
	}
	s.Close()

	old := []byte{0, 0, 0, 0, 0, 0, 0, 3, 1} // view 3, changing: the record before new-views were kept
	if h, err := decodeHard(old); err != nil || h != (pbft.HardState{View: 3, Changing: true}) {
		t.Fatalf("an older hard state record: %+v, %v", h, err)
	}
	for name, h := range map[string]*pbft.HardState{
		"a new-view of another view": {View: 5, NewView: nv},
		"another message":            {View: 4, NewView: nil},
	} {
		b := encodeHard(h)
		if h.NewView == nil {
			w := &writer{b: b}
			w.msg(pp)
			b = w.b
		}
		if _, err := decodeHard(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeHard(f *testing.F) {
	f.Add(encodeHard(&pbft.HardState{View: 3, Changing: true}))
	f.Add(encodeHard(&pbft.HardState{View: 4, NewView: &pbft.NewView{View: 4, Replica: 0,
		ViewChanges: []*pbft.ViewChange{{View: 4, Replica: 1}}, PrePrepares: []*pbft.PrePrepare{sampleEntry(2).PrePrepare}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHard(b)
		if err != nil {
			return
		}
		if again, err := decodeHard(encodeHard(&h)); err != nil || again.View != h.View || again.Changing != h.Changing || (again.NewView == nil) != (h.NewView == nil) {
			t.Fatalf("re-encoding a decoded hard state: %+v, %v", again, err)
		}
	})
}
