package node

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/seller"
)

// Status is the admin API's answer to GET /api/v1/status.
type Status struct {
	Version       string        `json:"version"`
	UptimeSeconds int64         `json:"uptime_seconds"`
	Listeners     Addrs         `json:"listeners"`
	Totals        Totals        `json:"totals"`
	Buyers        []BuyerStatus `json:"buyers"`
}

// BuyerStatus is one buyer's usage and, for a payment channel, its money
// in nano-units.
type BuyerStatus struct {
	meter.Usage
	Channel string     `json:"channel,omitempty"`
	Owed    pay.Amount `json:"owed_nano"`
	Paid    pay.Amount `json:"paid_nano"`
	Claimed pay.Amount `json:"claimed_nano"`
	// Pauses counts the times its relays waited for payment, PausedMillis
	// how long in all; MaxUnpaidBytes is the most it ever ran beyond its
	// durable payments (at most the credit window): the seller's exposure.
	Pauses         uint64 `json:"pauses,omitempty"`
	PausedMillis   int64  `json:"paused_ms,omitempty"`
	MaxUnpaidBytes uint64 `json:"max_unpaid_bytes,omitempty"`
}

// Totals sums every buyer's usage.
type Totals struct {
	BytesUp     uint64 `json:"bytes_up"`
	BytesDown   uint64 `json:"bytes_down"`
	ActiveConns int64  `json:"active_conns"`
	TotalConns  uint64 `json:"total_conns"`
}

// Status returns what the admin API reports.
func (n *Node) Status() Status {
	usage := n.meter.Snapshot()
	var money map[string]seller.ChannelStatus
	if n.pay != nil {
		money = n.pay.status()
	}
	var t Totals
	buyers := make([]BuyerStatus, len(usage))
	for i, b := range usage {
		buyers[i] = BuyerStatus{Usage: b}
		if m, ok := money[b.ID]; ok {
			buyers[i].Channel, buyers[i].Owed, buyers[i].Paid, buyers[i].Claimed = m.Channel.String(), m.Owed, m.Paid, m.Claimed
			buyers[i].Pauses, buyers[i].PausedMillis, buyers[i].MaxUnpaidBytes = m.Pauses, m.PausedMillis, m.MaxUnpaidBytes
		}
		t.BytesUp += b.BytesUp
		t.BytesDown += b.BytesDown
		t.ActiveConns += b.ActiveConns
		t.TotalConns += b.TotalConns
	}
	return Status{
		Version:       n.opts.Version,
		UptimeSeconds: int64(time.Since(n.started) / time.Second),
		Listeners:     n.Addrs(),
		Totals:        t,
		Buyers:        buyers,
	}
}

func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(n.Status())
	})
	return mux
}
