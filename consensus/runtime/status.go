package runtime

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/transport"
	"github.com/x402/x402/internal/wire"
)

// Status is a summary of a replica's state.
type Status struct {
	ID           uint32
	View         uint64
	Active       bool // false while changing views
	LastExecuted uint64
	StableSeq    uint64
	StableDigest pbft.Digest
	Transferring bool
	Pending      int // known unexecuted client requests
	LogEntries   int
	// Quiet says the replica has nothing under way and ticks slowly (see
	// pbft.Node.Quiet); not carried by QueryStatus.
	Quiet bool
	// Metrics are the core's counters, Saves and SaveTime the fsynced
	// transactions written and the time spent in them (not carried by
	// QueryStatus).
	Metrics  pbft.Metrics
	Saves    uint64
	SaveTime time.Duration
}

// statusVersion is the first byte of an encoded status.
const statusVersion = 1

// Status returns the replica's state as of its last event batch.
func (r *Replica) Status() Status { return *r.status.Load() }

// publishStatus snapshots the node's state; only the event loop calls it.
func (r *Replica) publishStatus() {
	ns := r.node.Status()
	r.status.Store(&Status{ID: ns.ID, View: ns.View, Active: ns.Active, LastExecuted: ns.LastExecuted,
		StableSeq: ns.Stable, StableDigest: ns.StableDigest, Transferring: ns.Transferring,
		Pending: ns.Pending, LogEntries: ns.LogEntries, Quiet: r.quiet, Metrics: r.node.Metrics(), Saves: r.saves, SaveTime: r.saveTime})
}

func (r *Replica) encodedStatus() []byte { return encodeStatus(r.Status()) }

func encodeStatus(s Status) []byte {
	return wire.NewWriter(96).U8(statusVersion).U32(s.ID).U64(s.View).Bool(s.Active).U64(s.LastExecuted).
		U64(s.StableSeq).Fixed(s.StableDigest[:]).Bool(s.Transferring).U64(uint64(s.Pending)).
		U64(uint64(s.LogEntries)).Bytes()
}

func decodeStatus(b []byte) (Status, error) {
	r := wire.NewReader(b)
	var s Status
	if v := r.U8(); r.Err() == nil && v != statusVersion {
		return s, fmt.Errorf("status version %d, want %d", v, statusVersion)
	}
	s.ID, s.View, s.Active, s.LastExecuted, s.StableSeq = r.U32(), r.U64(), r.Bool(), r.U64(), r.U64()
	r.Fixed(s.StableDigest[:])
	s.Transferring = r.Bool()
	pending, entries := r.U64(), r.U64()
	if err := r.Done(); err != nil {
		return Status{}, fmt.Errorf("decode status: %w", err)
	}
	if pending > 1<<40 || entries > 1<<40 {
		return Status{}, fmt.Errorf("decode status: implausible counts %d, %d", pending, entries)
	}
	s.Pending, s.LogEntries = int(pending), int(entries)
	return s, nil
}

// QueryStatus asks the running replica with key replica at addr for its
// status over the transport, as a throwaway client identity.
func QueryStatus(ctx context.Context, addr string, replica ed25519.PublicKey) (Status, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", addr, err)
	}
	ep, err := transport.ListenEndpoint(":0", key, transport.Impairment{})
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", addr, err)
	}
	defer ep.Close()
	b, err := ep.QueryStatus(ctx, addr, replica, key)
	if err != nil {
		return Status{}, err
	}
	s, err := decodeStatus(b)
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", addr, err)
	}
	return s, nil
}

// TransportMetrics returns what the replica's server took from clients
// and what it dropped.
func (r *Replica) TransportMetrics() transport.ServerMetrics { return r.srv.Metrics() }
