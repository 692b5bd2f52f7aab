package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	bolt "go.etcd.io/bbolt"
)

// digestDomain starts every state digest.
const digestDomain = "x402/ledger-digest/v1"

// Digest is StateDigest, or the zero digest if the file cannot be read
// (which no healthy replica reports, so a checkpoint comparison exposes it).
func (l *Ledger) Digest() [32]byte {
	d, err := l.StateDigest()
	if err != nil {
		return [32]byte{}
	}
	return d
}

// StateDigest is the SHA-256 of the whole state: every bucket's name and its
// keys and values, in bbolt's (byte-sorted) order, each length-prefixed.
// Replicas that applied the same transactions in the same order with the
// same times have the same digest.
func (l *Ledger) StateDigest() ([32]byte, error) {
	var sum [32]byte
	if err := l.settle(); err != nil {
		return [32]byte{}, fmt.Errorf("ledger digest: %w", err)
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		h := fieldHasher{h: sha256.New(), buf: make([]byte, 0, hashChunk+1024)}
		h.field([]byte(digestDomain))
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h.field(name)
			if err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					return fmt.Errorf("bucket %q holds an unexpected nested bucket %q", name, k)
				}
				h.field(k)
				h.field(v)
				return nil
			}); err != nil {
				return err
			}
			h.raw([]byte{0xff, 0xff, 0xff, 0xff}) // end of bucket: no field is this long
			return nil
		})
		sum = h.sum()
		return err
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("ledger digest: %w", err)
	}
	return sum, nil
}

// hashChunk is how much a fieldHasher buffers before it hashes.
const hashChunk = 32 << 10

// fieldHasher hashes length-prefixed fields through a buffer: a scan of
// the whole state makes few large hash writes and no allocation per field
// (the digest is that of the fields' concatenation either way).
type fieldHasher struct {
	h   hash.Hash
	buf []byte
}

func (f *fieldHasher) field(b []byte) {
	f.buf = binary.BigEndian.AppendUint32(f.buf, uint32(len(b)))
	f.raw(b)
}

func (f *fieldHasher) raw(b []byte) {
	f.buf = append(f.buf, b...)
	if len(f.buf) >= hashChunk {
		f.h.Write(f.buf)
		f.buf = f.buf[:0]
	}
}

func (f *fieldHasher) sum() [32]byte {
	f.h.Write(f.buf)
	f.buf = f.buf[:0]
	var out [32]byte
	copy(out[:], f.h.Sum(nil))
	return out
}
