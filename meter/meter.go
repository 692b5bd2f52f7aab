package meter

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Buyer holds one buyer's counters. Its methods are safe for concurrent use
// and allocation-free, so relays call them per chunk.
type Buyer struct {
	id          string
	bytesUp     atomic.Uint64
	bytesDown   atomic.Uint64
	activeConns atomic.Int64
	totalConns  atomic.Uint64
}

// ID returns the buyer's id.
func (b *Buyer) ID() string { return b.id }

// AddUp counts n bytes relayed from the buyer towards a destination.
func (b *Buyer) AddUp(n int64) {
	if n > 0 {
		b.bytesUp.Add(uint64(n))
	}
}

// AddDown counts n bytes relayed from a destination back to the buyer.
func (b *Buyer) AddDown(n int64) {
	if n > 0 {
		b.bytesDown.Add(uint64(n))
	}
}

// TryOpen records a new connection unless the buyer already has limit active
// ones (limit <= 0 means no limit). It reports whether the connection may
// proceed; every successful TryOpen must be paired with one Close.
func (b *Buyer) TryOpen(limit int) bool {
	for {
		active := b.activeConns.Load()
		if limit > 0 && active >= int64(limit) {
			return false
		}
		if b.activeConns.CompareAndSwap(active, active+1) {
			b.totalConns.Add(1)
			return true
		}
	}
}

// Close records the end of a connection opened with TryOpen.
func (b *Buyer) Close() { b.activeConns.Add(-1) }

// Usage is a point-in-time copy of one buyer's counters.
type Usage struct {
	ID          string `json:"id"`
	BytesUp     uint64 `json:"bytes_up"`
	BytesDown   uint64 `json:"bytes_down"`
	ActiveConns int64  `json:"active_conns"`
	TotalConns  uint64 `json:"total_conns"`
}

// Usage returns a copy of the buyer's counters.
func (b *Buyer) Usage() Usage {
	return Usage{
		ID:          b.id,
		BytesUp:     b.bytesUp.Load(),
		BytesDown:   b.bytesDown.Load(),
		ActiveConns: b.activeConns.Load(),
		TotalConns:  b.totalConns.Load(),
	}
}

// Meter is the set of all buyers' counters. The zero value is not usable;
// call New.
type Meter struct {
	mu     sync.RWMutex
	buyers map[string]*Buyer
}

// New returns an empty meter.
func New() *Meter {
	return &Meter{buyers: make(map[string]*Buyer)}
}

// Buyer returns the counters of buyer id, creating them on first use. Relays
// call it once per connection and keep the pointer.
func (m *Meter) Buyer(id string) *Buyer {
	m.mu.RLock()
	b := m.buyers[id]
	m.mu.RUnlock()
	if b != nil {
		return b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b = m.buyers[id]; b == nil {
		b = &Buyer{id: id}
		m.buyers[id] = b
	}
	return b
}

// Snapshot returns every buyer's usage, sorted by id.
func (m *Meter) Snapshot() []Usage {
	m.mu.RLock()
	out := make([]Usage, 0, len(m.buyers))
	for _, b := range m.buyers {
		out = append(out, b.Usage())
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// restore adds persisted totals to buyer id. Active connections are never
// persisted: after a restart there are none.
func (m *Meter) restore(u Usage) {
	b := m.Buyer(u.ID)
	b.bytesUp.Add(u.BytesUp)
	b.bytesDown.Add(u.BytesDown)
	b.totalConns.Add(u.TotalConns)
}
