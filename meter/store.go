package meter

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/internal/boltdb"
)

// usageBucket holds one record per buyer: key = buyer id, value = encodeUsage.
var usageBucket = []byte("usage/v1")

const recordLen = 1 + 3*8 // version byte + bytes up, bytes down, total conns

// Store persists a Meter's totals in a bbolt file.
type Store struct {
	db   *bolt.DB
	path string
}

// OpenStore opens (creating 0600, in a 0700 directory) the bbolt file at path.
// It fails fast with a clear error when another process holds the file.
func OpenStore(path string) (*Store, error) {
	db, err := boltdb.Open(path, usageBucket)
	if err != nil {
		return nil, fmt.Errorf("meter store: %w", err)
	}
	return &Store{db: db, path: path}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Load adds every persisted buyer's totals to m. A corrupt record fails the
// whole load, naming the buyer, so nothing is silently dropped.
func (s *Store) Load(m *Meter) error {
	var restored []Usage
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(usageBucket).ForEach(func(k, v []byte) error {
			u, err := decodeUsage(k, v)
			if err != nil {
				return err
			}
			restored = append(restored, u)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load meter store %s: %w", s.path, err)
	}
	for _, u := range restored {
		m.restore(u)
	}
	return nil
}

// Save writes every buyer's current totals in one transaction (fsynced).
func (s *Store) Save(m *Meter) error {
	snap := m.Snapshot()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(usageBucket)
		for _, u := range snap {
			if err := b.Put([]byte(u.ID), encodeUsage(u)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save meter store %s: %w", s.path, err)
	}
	return nil
}

// Run saves m every interval until ctx ends, then saves once more.
func (s *Store) Run(ctx context.Context, m *Meter, interval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.Save(m); err != nil {
				log.Error("periodic meter save failed", "err", err)
			}
		case <-ctx.Done():
			return s.Save(m)
		}
	}
}

func encodeUsage(u Usage) []byte {
	v := make([]byte, recordLen)
	v[0] = 1
	binary.BigEndian.PutUint64(v[1:], u.BytesUp)
	binary.BigEndian.PutUint64(v[9:], u.BytesDown)
	binary.BigEndian.PutUint64(v[17:], u.TotalConns)
	return v
}

func decodeUsage(k, v []byte) (Usage, error) {
	if len(v) != recordLen || v[0] != 1 {
		return Usage{}, fmt.Errorf("buyer %q: corrupt usage record (%d bytes)", k, len(v))
	}
	return Usage{
		ID:         string(k),
		BytesUp:    binary.BigEndian.Uint64(v[1:]),
		BytesDown:  binary.BigEndian.Uint64(v[9:]),
		TotalConns: binary.BigEndian.Uint64(v[17:]),
	}, nil
}
