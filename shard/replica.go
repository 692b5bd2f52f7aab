package shard

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime"
	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay/ledger"
)

// The ledger is the shard's application, authenticating its own requests.
var _ pbft.BatchAuthenticator = (*ledger.Replicated)(nil)

// CheckpointInterval is the ledger shard's checkpoint interval K, in
// batches (the watermark window is 2K). Every replica of a shard must use
// the same. A checkpoint digests, snapshots and (once stable) fsyncs the
// whole ledger state, so it is taken every 64 batches rather than the
// core's default 16.
const CheckpointInterval = 64

// Member is a running replica of a shard: the consensus runtime over the
// replicated ledger.
type Member struct {
	rt     *runtime.Replica
	ledger *ledger.Ledger
	app    *ledger.Replicated
	clock  *clockReporter
}

// Domain is the consensus signing domain of a ledger genesis.
func Domain(g ledger.Genesis) pbft.Domain { return pbft.Domain{ChainID: g.Chain, Shard: g.Shard} }

// StartReplica opens the replica's ledger and consensus state (created
// 0700) and starts serving the shard.
func StartReplica(cfg ReplicaConfig, log *slog.Logger, opts ...Option) (*Member, error) {
	o := options(opts)
	g, err := LoadGenesis(cfg.Path(cfg.Genesis))
	if err != nil {
		return nil, err
	}
	if int(cfg.ID) >= len(g.Replicas) {
		return nil, fmt.Errorf("replica: id %d is not in the shard of %d", cfg.ID, len(g.Replicas))
	}
	key, err := keys.Load(cfg.Path(cfg.Key))
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.ID, err)
	}
	pubs, err := g.Keys()
	if err != nil {
		return nil, err
	}
	if !pubs[cfg.ID].Equal(key.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("replica %d: key %s is not the genesis key of replica %d", cfg.ID, cfg.Key, cfg.ID)
	}
	dir := cfg.Path(cfg.StateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.ID, err)
	}
	l, err := ledger.OpenReplica(filepath.Join(dir, "ledger.db"), g.Ledger)
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.ID, err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = g.Replicas[cfg.ID].Address
	}
	if log == nil {
		log = slog.Default()
	}
	// The ledger authenticates the requests that carry its transactions
	// (pbft.RequestAuthenticator): a replica checks one signature per
	// transaction, the transaction's own, and a backup checks those of a
	// pre-prepare's batch together (pbft.BatchAuthenticator).
	app := ledger.NewReplicated(l, pubs)
	rt, err := runtime.Start(runtime.ReplicaConfig{
		Node: pbft.Config{
			Domain: Domain(g.Ledger), ID: cfg.ID, Key: key, Replicas: pubs,
			App:                app,
			CheckpointInterval: CheckpointInterval,
		},
		Listen:       listen,
		Peers:        g.Addresses(),
		StatePath:    filepath.Join(dir, "consensus.db"),
		Impairment:   o.impairment,
		OnBatchTimes: o.batchTimes,
		Logger:       log.With("replica", cfg.ID),
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("replica %d: %w", cfg.ID, err)
	}
	clock, err := startClockReporter(g, pubs, key, cfg.ID, app.Activity, o, log.With("replica", cfg.ID))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("replica %d: clock reports: %w", cfg.ID, err), rt.Close(), l.Close())
	}
	return &Member{rt: rt, ledger: l, app: app, clock: clock}, nil
}

// Status is the replica's consensus state.
func (r *Member) Status() runtime.Status { return r.rt.Status() }

// Done is closed if the replica stops by itself (a fatal error).
func (r *Member) Done() <-chan struct{} { return r.rt.Done() }

// Err is why the replica stopped by itself.
func (r *Member) Err() error { return r.rt.Err() }

// Close stops the replica and closes its state.
func (r *Member) Close() error {
	return errors.Join(r.clock.close(), r.rt.Close(), r.ledger.Close())
}
