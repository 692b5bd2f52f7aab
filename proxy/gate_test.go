package proxy

import (
	"context"
	"sync/atomic"

	"github.com/x402/x402/meter"
)

// stingyGate grants at most grant bytes per Acquire and counts the calls.
type stingyGate struct {
	grant int64
	calls atomic.Int64
}

func (g *stingyGate) Acquire(ctx context.Context, _ *meter.Buyer, want int64) (int64, error) {
	g.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return min(want, g.grant), nil
}

func (g *stingyGate) Release(*meter.Buyer, int64, int64) {}
