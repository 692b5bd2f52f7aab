package storage

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/internal/boltdb"
)

// formatVersion identifies this package's layout of the file: version 2
// added the batches bucket (version 1 files are upgraded on open: their
// entries carry their batches and still decode); version 3 keeps each
// batch in a bucket of its own (version 2's batches, plain values of the
// batches bucket, are still read). A build refuses a file of a later
// version than its own, so a downgrade stops with a clear error.
const formatVersion = 3

var (
	bucketMeta    = []byte("pbft-meta")
	bucketEntries = []byte("pbft-entries")
	bucketBatches = []byte("pbft-batches")
	keyFormat     = []byte("format")
	keyIdentity   = []byte("identity")
	keyHard       = []byte("hard")
	keyCheckpoint = []byte("checkpoint")
	// keyBatch is the one key of a batch's own bucket.
	keyBatch = []byte{0}
)

// ErrCorrupt is returned (wrapped) when the state file holds something
// this package did not write.
var ErrCorrupt = errors.New("pbft storage: corrupt state file")

// ErrForeign is returned (wrapped) when the state file belongs to another
// replica or shard.
var ErrForeign = errors.New("pbft storage: state file belongs to another replica")

// Identity names the replica a state file belongs to.
type Identity struct {
	Domain  pbft.Domain
	Replica uint32
	Key     ed25519.PublicKey
}

func (id Identity) encode() []byte {
	w := &writer{}
	w.u32(uint32(len(id.Domain.ChainID)))
	w.b = append(w.b, id.Domain.ChainID...)
	w.u32(id.Domain.Shard)
	w.u32(id.Replica)
	w.u32(uint32(len(id.Key)))
	w.b = append(w.b, id.Key...)
	return w.b
}

// Store is a replica's state file. It is safe for use by one goroutine at a
// time (the replica's event loop).
type Store struct {
	db     *bolt.DB
	path   string
	domain pbft.Domain
	cp     uint64 // sequence of the stored checkpoint
}

// Open opens (creating) the state file at path for replica id. It fails
// with a clear error when the file is not a bbolt file, was written by
// another replica or shard, or by an unknown format version.
func Open(path string, id Identity) (*Store, error) {
	db, err := boltdb.Open(path, bucketMeta, bucketEntries, bucketBatches)
	if err != nil {
		return nil, fmt.Errorf("pbft storage: %w", err)
	}
	s := &Store{db: db, path: path, domain: id.Domain}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		want := id.encode()
		f := meta.Get(keyFormat)
		if f == nil {
			if meta.Get(keyHard) != nil || meta.Get(keyCheckpoint) != nil || tx.Bucket(bucketEntries).Stats().KeyN > 0 {
				return fmt.Errorf("%w: state without a format version", ErrCorrupt)
			}
			if err := meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
				return err
			}
			return meta.Put(keyIdentity, want)
		}
		if len(f) != 4 || binary.BigEndian.Uint32(f) < 1 || binary.BigEndian.Uint32(f) > formatVersion {
			return fmt.Errorf("%w: unknown format version %x", ErrCorrupt, f)
		}
		if got := meta.Get(keyIdentity); !bytes.Equal(got, want) {
			return fmt.Errorf("%w: stored identity differs from chain %q shard %d replica %d",
				ErrForeign, id.Domain.ChainID, id.Domain.Shard, id.Replica)
		}
		return meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("pbft storage %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pbft storage %s: close: %w", s.path, err)
	}
	return nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Save makes p durable in one fsynced transaction: the hard state and the
// checkpoint are replaced, entries (and batches) at or below the checkpoint
// deleted, and p's entries upserted by sequence number. An entry is saved
// again whenever it changes (its prepared certificate, its commits); its
// batch is written only the first time, in a bucket of its own.
func (s *Store) Save(p *pbft.Persist) error {
	if p.Empty() {
		return nil
	}
	cp := s.cp
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, entries, batches := tx.Bucket(bucketMeta), tx.Bucket(bucketEntries), tx.Bucket(bucketBatches)
		if p.Hard != nil {
			if err := meta.Put(keyHard, encodeHard(p.Hard)); err != nil {
				return err
			}
		}
		if p.Checkpoint != nil {
			if err := meta.Put(keyCheckpoint, encodeCheckpoint(p.Checkpoint)); err != nil {
				return err
			}
			cp = p.Checkpoint.Seq
			for _, b := range []*bolt.Bucket{entries, batches} {
				if err := deleteThrough(b, cp); err != nil {
					return err
				}
			}
		}
		for i := range p.Entries {
			e := &p.Entries[i]
			if e.Seq <= cp {
				continue
			}
			for _, pp := range prePrepares(e) {
				if err := putBatch(batches, batchKey(e.Seq, pp.Digest), pp.Batch); err != nil {
					return err
				}
			}
			if err := entries.Put(seqKey(e.Seq), encodeEntry(e)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pbft storage %s: save: %w", s.path, err)
	}
	s.cp = cp
	return nil
}

// Load returns the persisted state, or nil when nothing was persisted yet.
func (s *Store) Load() (out *pbft.Persisted, err error) {
	// bbolt panics on some damaged pages; that is corrupt input, not a bug.
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("pbft storage %s: load: %w: %v", s.path, ErrCorrupt, v)
		}
	}()
	err = s.db.View(func(tx *bolt.Tx) error {
		meta, entries := tx.Bucket(bucketMeta), tx.Bucket(bucketEntries)
		p := &pbft.Persisted{}
		written := false
		if b := meta.Get(keyHard); b != nil {
			h, err := decodeHard(b)
			if err != nil {
				return fmt.Errorf("%w: hard state: %w", ErrCorrupt, err)
			}
			p.Hard, written = h, true
		}
		if b := meta.Get(keyCheckpoint); b != nil {
			cp, err := decodeCheckpoint(b)
			if err != nil {
				return fmt.Errorf("%w: checkpoint: %w", ErrCorrupt, err)
			}
			p.Checkpoint, written = cp, true
		}
		err := entries.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: entry key %x", ErrCorrupt, k)
			}
			seq := binary.BigEndian.Uint64(k)
			e, needBatches, err := decodeEntry(v)
			if err == nil && needBatches {
				err = s.loadBatches(tx.Bucket(bucketBatches), &e)
			}
			if err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrCorrupt, seq, err)
			}
			if e.Seq != seq {
				return fmt.Errorf("%w: entry %d stored under %d", ErrCorrupt, e.Seq, seq)
			}
			if p.Checkpoint != nil && seq <= p.Checkpoint.Seq {
				return fmt.Errorf("%w: entry %d at or below the checkpoint %d", ErrCorrupt, seq, p.Checkpoint.Seq)
			}
			p.Entries = append(p.Entries, e)
			written = true
			return nil
		})
		if err != nil {
			return err
		}
		if written {
			out = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pbft storage %s: load: %w", s.path, err)
	}
	if out != nil && out.Checkpoint != nil {
		s.cp = out.Checkpoint.Seq
	}
	return out, nil
}

// loadBatches gives e's pre-prepares their batches, each checked against
// the digest its pre-prepare names.
func (s *Store) loadBatches(batches *bolt.Bucket, e *pbft.Entry) error {
	for _, pp := range prePrepares(e) {
		b := getBatch(batches, batchKey(pp.Seq, pp.Digest))
		if b == nil {
			return fmt.Errorf("batch %x of view %d is missing", pp.Digest[:4], pp.View)
		}
		batch, err := decodeBatch(b)
		if err != nil {
			return fmt.Errorf("batch %x of view %d: %w", pp.Digest[:4], pp.View, err)
		}
		if s.domain.BatchDigest(batch) != pp.Digest {
			return fmt.Errorf("batch %x of view %d does not match its digest", pp.Digest[:4], pp.View)
		}
		pp.Batch = batch
	}
	return nil
}

// putBatch stores batch under k unless it is there already: in a bucket
// of its own holding one value. A bbolt leaf keeps at least two values, so
// a batch stored as a plain value of the batches bucket was written again
// with each one appended after it: a save of a shard at full load wrote
// about 42 pages, against 15 this way (BENCHMARKS.md).
func putBatch(batches *bolt.Bucket, k []byte, batch []*pbft.Request) error {
	if batches.Bucket(k) != nil || batches.Get(k) != nil { // Get: a version 2 batch
		return nil
	}
	b, err := batches.CreateBucket(k)
	if err != nil {
		return err
	}
	return b.Put(keyBatch, encodeBatch(batch))
}

// getBatch returns the encoded batch stored under k, from its bucket or
// as a version 2 plain value; nil when there is none.
func getBatch(batches *bolt.Bucket, k []byte) []byte {
	if b := batches.Bucket(k); b != nil {
		return b.Get(keyBatch)
	}
	return batches.Get(k)
}

// deleteThrough deletes b's records of sequence numbers up to seq (keys
// start with the big-endian sequence number), values and buckets alike.
func deleteThrough(b *bolt.Bucket, seq uint64) error {
	c := b.Cursor()
	for k, _ := c.First(); len(k) >= 8 && binary.BigEndian.Uint64(k) <= seq; k, _ = c.First() {
		var err error
		if b.Bucket(k) != nil { // a batch's bucket
			err = b.DeleteBucket(bytes.Clone(k))
		} else {
			err = c.Delete()
		}
		if err != nil {
			return err
		}
	}
	return nil
}
