package node

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/x402/x402/meter"
)

// Status is the admin API's answer to GET /api/v1/status.
type Status struct {
	Version       string        `json:"version"`
	UptimeSeconds int64         `json:"uptime_seconds"`
	Listeners     Addrs         `json:"listeners"`
	Totals        Totals        `json:"totals"`
	Buyers        []meter.Usage `json:"buyers"`
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
	buyers := n.meter.Snapshot()
	var t Totals
	for _, b := range buyers {
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
