package seller

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/internal/boltdb"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
)

// bestBucket holds, per channel, the best payment the seller holds.
var bestBucket = []byte("best/v1")

// Best is the most valuable payment held for a channel: the newest voucher,
// the ticks proven beyond it and the newest preimage, and what the ledger
// has already paid out.
type Best struct {
	Voucher  pay.SignedVoucher
	Ticks    uint32
	Preimage [32]byte
	Claimed  pay.Amount
}

// Value is what the best payment is worth.
func (b Best) Value() pay.Amount {
	v, err := b.Voucher.ValueWithTicks(b.Ticks)
	if err != nil {
		return b.Voucher.Cumulative
	}
	return v
}

func (b Best) marshal() []byte {
	w := wire.NewWriter(256).U8(1)
	b.Voucher.Encode(w)
	return w.U32(b.Ticks).Fixed(b.Preimage[:]).U64(uint64(b.Claimed)).Bytes()
}

func unmarshalBest(v []byte) (Best, error) {
	r := wire.NewReader(v)
	if r.U8() != 1 {
		r.Fail(errors.New("unknown record version"))
	}
	var b Best
	b.Voucher = pay.DecodeVoucher(r)
	b.Ticks = r.U32()
	r.Fixed(b.Preimage[:])
	b.Claimed = pay.Amount(r.U64())
	return b, r.Done()
}

// Store keeps the best payments in a bbolt file; every Put is fsynced.
type Store struct {
	db   *bolt.DB
	path string
}

// OpenStore opens (creating 0600 in a 0700 directory) the store at path.
func OpenStore(path string) (*Store, error) {
	db, err := boltdb.Open(path, bestBucket)
	if err != nil {
		return nil, fmt.Errorf("seller store: %w", err)
	}
	return &Store{db: db, path: path}, nil
}

// Put durably records b for ch.
func (s *Store) Put(ch pay.ChannelID, b Best) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bestBucket).Put(ch[:], b.marshal())
	})
	if err != nil {
		return fmt.Errorf("persist best voucher for channel %s: %w", ch, err)
	}
	return nil
}

// All returns every channel's recorded best payment.
func (s *Store) All() (map[pay.ChannelID]Best, error) {
	out := map[pay.ChannelID]Best{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bestBucket).ForEach(func(k, v []byte) error {
			var ch pay.ChannelID
			if len(k) != len(ch) {
				return fmt.Errorf("corrupt channel key %x", k)
			}
			copy(ch[:], k)
			b, err := unmarshalBest(v)
			if err != nil {
				return fmt.Errorf("channel %s: corrupt record: %w", ch, err)
			}
			out[ch] = b
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load seller store %s: %w", s.path, err)
	}
	return out, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }
