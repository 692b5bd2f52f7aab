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
	err := l.db.View(func(tx *bolt.Tx) error {
		h := sha256.New()
		writeField(h, []byte(digestDomain))
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			writeField(h, name)
			if err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					return fmt.Errorf("bucket %q holds an unexpected nested bucket %q", name, k)
				}
				writeField(h, k)
				writeField(h, v)
				return nil
			}); err != nil {
				return err
			}
			h.Write([]byte{0xff, 0xff, 0xff, 0xff}) // end of bucket: no field is this long
			return nil
		})
		copy(sum[:], h.Sum(nil))
		return err
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("ledger digest: %w", err)
	}
	return sum, nil
}

func writeField(h hash.Hash, b []byte) {
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	h.Write(b)
}
