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

// DefaultTickInterval is the default duration of one core tick.
const DefaultTickInterval = 10 * time.Millisecond

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
	// if 0); the core's timeouts are counted in ticks.
	TickInterval time.Duration
	// Impairment injects delay and loss on everything the replica sends.
	Impairment transport.Impairment
	// OnExecute, if set, is called from the event loop for every batch the
	// replica executed, after the state that led to it is durable. It must
	// not block.
	OnExecute func(pbft.Batch)
	Logger    *slog.Logger
}

func (c *ReplicaConfig) withDefaults() (ReplicaConfig, error) {
	out := *c
	if out.TickInterval <= 0 {
		out.TickInterval = DefaultTickInterval
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
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
