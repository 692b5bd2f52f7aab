package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
)

// settlementJSON is the second line `x402 buy --json` prints: the money as
// "0.0001 USD" strings and as integer nano-units.
type settlementJSON struct {
	Channel      string `json:"channel"`
	Asset        string `json:"asset"`
	BytesCounted uint64 `json:"bytes_counted"`
	BytesBilled  uint64 `json:"bytes_billed"`
	Billed       string `json:"billed"`
	Paid         string `json:"paid"`
	Settled      string `json:"settled"`
	Refund       string `json:"refund"`
	BilledNano   uint64 `json:"billed_nano"`
	PaidNano     uint64 `json:"paid_nano"`
	SettledNano  uint64 `json:"settled_nano"`
	RefundNano   uint64 `json:"refund_nano"`
	PrepayNano   uint64 `json:"prepay_nano"`        // how far ahead of its bills the buyer paid
	WireBytes    uint64 `json:"payment_wire_bytes"` // the payment session's traffic, both directions
	Error        string `json:"error,omitempty"`
}

// printSettlement writes how the channel ended (also when settling failed
// part way, with the error).
func printSettlement(w io.Writer, s buyer.Settlement, asset pay.Asset, asJSON bool, closeErr error) error {
	j := settlementJSON{
		Channel: s.Channel.String(), Asset: string(asset), BytesCounted: s.BytesCounted, BytesBilled: s.BytesBilled,
		Billed: s.Billed.Format(asset), Paid: s.Paid.Format(asset), Settled: s.Settled.Format(asset), Refund: s.Refund.Format(asset),
		BilledNano: uint64(s.Billed), PaidNano: uint64(s.Paid), SettledNano: uint64(s.Settled), RefundNano: uint64(s.Refund),
		PrepayNano: uint64(s.Prepay), WireBytes: s.WireBytes,
	}
	if closeErr != nil {
		j.Error = closeErr.Error()
	}
	if asJSON {
		return writeJSONLine(w, j)
	}
	_, err := fmt.Fprintf(w, "\nchannel %s\n  bytes counted  %d\n  bytes billed   %d\n  billed         %s\n  paid           %s\n  settled        %s\n  refund         %s\n",
		j.Channel, j.BytesCounted, j.BytesBilled, j.Billed, j.Paid, j.Settled, j.Refund)
	return err
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress rewrites one line every second with the bytes, the money
// billed and paid (the buyer pays a window ahead) and the rate, until ctx
// ends.
func showProgress(ctx context.Context, w io.Writer, agent *buyer.Agent, asset pay.Asset) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastBytes uint64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return
		case now := <-t.C:
			p := agent.Progress()
			n := max(p.Counted, p.BytesBilled)
			rate := float64(n-min(n, lastBytes)) / now.Sub(last).Seconds()
			lastBytes, last = n, now
			fmt.Fprintf(w, "\r\033[K%s relayed  %s billed  %s paid  %s/s", humanBytes(n), p.Billed.Format(asset), p.Paid.Format(asset), humanBytes(uint64(rate)))
		}
	}
}
