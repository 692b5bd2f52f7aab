package shard

import (
	"context"
	"log/slog"
	"time"

	"github.com/x402/x402/consensus/runtime"
	"github.com/x402/x402/pay/ledger"
)

// LedgerClient is a ledger.Client (and ledger.BindingReader) backed by a
// running shard: every call is ordered by PBFT and answered by f+1
// matching replicas (2f+1 when they answer tentatively, before the commit).
type LedgerClient struct {
	*ledger.ShardClient
	c *runtime.Client
}

// DialLedger connects to the shard of g.
func DialLedger(g Genesis, log *slog.Logger, opts ...Option) (*LedgerClient, error) {
	o := options(opts)
	pubs, err := g.Keys()
	if err != nil {
		return nil, err
	}
	c, err := runtime.Dial(runtime.ClientConfig{Domain: Domain(g.Ledger), Replicas: pubs, Addrs: g.Addresses(), Identities: o.identities, Impairment: o.impairment, Logger: log})
	if err != nil {
		return nil, err
	}
	return &LedgerClient{ShardClient: ledger.NewShardClient(c, g.Ledger), c: c}, nil
}

// Connected reports whether the client is connected to every replica
// with every identity.
func (c *LedgerClient) Connected() bool { return c.c.Connected() }

// Close disconnects from the shard.
func (c *LedgerClient) Close() error { return c.c.Close() }

// ReplicaStatus is one replica as `x402 shard status` reports it.
type ReplicaStatus struct {
	ID               uint32 `json:"id"`
	Address          string `json:"address"`
	Reachable        bool   `json:"reachable"`
	View             uint64 `json:"view"`
	Executed         uint64 `json:"executed"`
	StableCheckpoint uint64 `json:"stable_checkpoint"`
	Digest           string `json:"digest"`
	Error            string `json:"error,omitempty"`
}

// QueryStatus asks every replica of g for its state, waiting at most
// timeout for each (in parallel).
func QueryStatus(ctx context.Context, g Genesis, timeout time.Duration) ([]ReplicaStatus, error) {
	pubs, err := g.Keys()
	if err != nil {
		return nil, err
	}
	out := make([]ReplicaStatus, len(g.Replicas))
	done := make(chan struct{}, len(g.Replicas))
	for i, r := range g.Replicas {
		go func() {
			defer func() { done <- struct{}{} }()
			qctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := runtime.QueryStatus(qctx, r.Address, pubs[i])
			rs := ReplicaStatus{ID: r.ID, Address: r.Address}
			if err != nil {
				rs.Error = err.Error()
			} else {
				rs.Reachable, rs.View, rs.Executed, rs.StableCheckpoint = true, st.View, st.LastExecuted, st.StableSeq
				rs.Digest = hexDigest(st.StableDigest)
			}
			out[i] = rs
		}()
	}
	for range g.Replicas {
		<-done
	}
	return out, nil
}
