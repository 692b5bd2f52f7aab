package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/transport"
)

// DefaultTickInterval is the default duration of one replica tick. The
// primary cuts at most one partial batch per tick, so the tick bounds both
// the batching delay and the rate of partial batches.
const DefaultTickInterval = 2 * time.Millisecond

// Wall-clock defaults of the core's tick-counted timers, converted with the
// tick interval for every zero pbft.Config tunable. The view-change timeout
// is about twice the finality p99 measured with 25 ms one-way delay under
// load (a backup's timer runs from the pre-prepare or the client's
// broadcast to execution); it doubles on every view change without
// progress, so a slower shard backs off by itself.
const (
	DefaultViewChangeTimeout = 300 * time.Millisecond
	DefaultStatusInterval    = 100 * time.Millisecond
	DefaultTransferDelay     = 50 * time.Millisecond
	DefaultTransferRetry     = 300 * time.Millisecond
)

// ticks converts d to a whole number of ticks (at least 1).
func ticks(d, tick time.Duration) int { return max(1, int((d+tick-1)/tick)) }

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// Node configures the protocol core: its ID, Key, Replicas, Domain and
	// App are required. Its Verify is replaced by the runtime's parallel,
	// memoizing ed25519 verifier unless set.
	Node pbft.Config
	// Listen is the UDP address to listen on ("host:port"). PacketConn, if
	// set, is used instead (the replica takes ownership of it).
	Listen     string
	PacketConn net.PacketConn
	// Peers are the replicas' addresses, indexed by replica id (this
	// replica's own entry is ignored).
	Peers []string
	// StatePath is the bbolt state file.
	StatePath string
	// TickInterval is the duration of one core tick (DefaultTickInterval
	// if 0). The core counts its timers in ticks: zero ViewChangeTimeout,
	// StatusInterval, TransferDelay and TransferRetry in Node are set from
	// the wall-clock defaults above.
	TickInterval time.Duration
	// Impairment injects delay and loss on everything the replica sends.
	Impairment transport.Impairment
	// OnExecute, if set, is called from the event loop for every batch the
	// replica executed, after the state that led to it is durable. It must
	// not block.
	OnExecute func(pbft.Batch)
	// OnBatchTimes, if set, is called from the event loop for every batch
	// the replica executed, with when it reached each step of the batch's
	// path (benchmarks). It must not block.
	OnBatchTimes func(BatchTimes)
	Logger       *slog.Logger
}

func (c *ReplicaConfig) withDefaults() (ReplicaConfig, error) {
	out := *c
	if out.TickInterval <= 0 {
		out.TickInterval = DefaultTickInterval
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	n := &out.Node
	for _, t := range []struct {
		v *int
		d time.Duration
	}{
		{&n.ViewChangeTimeout, DefaultViewChangeTimeout},
		{&n.StatusInterval, DefaultStatusInterval},
		{&n.TransferDelay, DefaultTransferDelay},
		{&n.TransferRetry, DefaultTransferRetry},
	} {
		if *t.v <= 0 {
			*t.v = ticks(t.d, out.TickInterval)
		}
	}
	switch {
	case len(out.Peers) != len(out.Node.Replicas):
		return out, fmt.Errorf("replica config: %d peer addresses for %d replicas", len(out.Peers), len(out.Node.Replicas))
	case int(out.Node.ID) >= len(out.Node.Replicas):
		return out, fmt.Errorf("replica config: id %d out of range", out.Node.ID)
	case out.StatePath == "":
		return out, errors.New("replica config: no state path")
	case out.Listen == "" && out.PacketConn == nil:
		return out, errors.New("replica config: no listen address")
	}
	return out, nil
}
