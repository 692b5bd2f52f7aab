package pbftsim

import (
	"maps"
	"slices"

	"github.com/x402/x402/consensus/pbft"
)

// storage is a replica's simulated durable store: what Ready.Persist wrote.
type storage struct {
	hard    pbft.HardState
	cp      *pbft.StableCheckpoint
	entries map[uint64]pbft.Entry
	written bool
}

func newStorage() *storage { return &storage{entries: map[uint64]pbft.Entry{}} }

func (s *storage) apply(p *pbft.Persist) {
	if p.Empty() {
		return
	}
	s.written = true
	if p.Hard != nil {
		s.hard = *p.Hard
	}
	if p.Checkpoint != nil {
		s.cp = p.Checkpoint
		maps.DeleteFunc(s.entries, func(seq uint64, _ pbft.Entry) bool { return seq <= p.Checkpoint.Seq })
	}
	for _, e := range p.Entries {
		if s.cp == nil || e.Seq > s.cp.Seq {
			s.entries[e.Seq] = e
		}
	}
}

func (s *storage) load() *pbft.Persisted {
	if !s.written {
		return nil
	}
	p := &pbft.Persisted{Hard: s.hard, Checkpoint: s.cp}
	for _, seq := range slices.Sorted(maps.Keys(s.entries)) {
		p.Entries = append(p.Entries, s.entries[seq])
	}
	return p
}
