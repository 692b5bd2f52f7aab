package pbft

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Application is the deterministic state machine a shard orders
// transactions for. The Node calls it synchronously: Apply for every
// sequence number in order once its batch is prepared in the current view
// or committed (txs may be empty for a null batch; requests already
// executed are filtered out), Digest and Snapshot at checkpoints, Restore
// on state transfer, restart and rollback. Apply must return one result
// per transaction and must be a pure function of the state and txs. A
// batch applied ahead of its commit may be undone (a view change replaced
// it): the Node then restores a checkpoint's snapshot and applies the
// committed batches above it again, so Apply must have no effect outside
// the state that Snapshot captures; a runtime learns of committed batches
// from Ready.Executed.
type Application interface {
	Apply(seq uint64, txs [][]byte) [][]byte
	Digest() [32]byte
	Snapshot() ([]byte, error)
	Restore(snapshot []byte) error
}

// AuthenticateFunc decides whether an unsigned request (one whose Sig is
// all zero, see UnsignedRequest) of client at timestamp with operation op
// is authentic. It lets an application whose operations carry their own
// signature spare the client a second one: the application vouches that
// op was made by the holder of client's key, for exactly that timestamp
// (for instance: op is a transaction signed by client's key whose nonce is
// timestamp). It must be a pure function of its arguments, as VerifyFunc
// (every correct replica must reach the same answer, and a runtime may call
// it ahead on other goroutines to warm a cache), and it must never accept
// an (op, timestamp) the holder of client's key did not sign: exactly-once
// execution rests on it as it rests on request signatures. The client is
// an ed25519 public key as in ClientID (an unnamed type, so an application
// need not import this package).
type AuthenticateFunc func(client [32]byte, timestamp uint64, op []byte) bool

// RequestAuthenticator is an Application that authenticates unsigned
// requests; Config.Authenticate defaults to its AuthenticateRequest.
type RequestAuthenticator interface {
	AuthenticateRequest(client [32]byte, timestamp uint64, op []byte) bool
}

// BatchAuthenticator is a RequestAuthenticator that can also authenticate
// many unsigned requests at once, faster than one by one (for instance by
// batch signature verification). The i-th answer must be what
// AuthenticateRequest(clients[i], timestamps[i], ops[i]) says. The core
// never calls it; a runtime may, to warm the application's cache with a
// pre-prepare's batch before the core asks about each request.
type BatchAuthenticator interface {
	RequestAuthenticator
	AuthenticateRequests(clients [][32]byte, timestamps []uint64, ops [][]byte) []bool
}

// AuthenticatorOf returns cfg.Authenticate, or its application's
// AuthenticateRequest when that is nil and the application has one, or nil.
func AuthenticatorOf(cfg *Config) AuthenticateFunc {
	if cfg.Authenticate != nil {
		return cfg.Authenticate
	}
	if a, ok := cfg.App.(RequestAuthenticator); ok {
		return a.AuthenticateRequest
	}
	return nil
}

// Config configures one replica. Zero tunables take the defaults below.
type Config struct {
	Domain Domain
	// ID is this replica's index in Replicas.
	ID uint32
	// Key is this replica's private key; its public key is Replicas[ID].
	Key ed25519.PrivateKey
	// Replicas are the shard's members' public keys, 3f+1 of them.
	Replicas []ed25519.PublicKey
	// App is the replicated state machine.
	App Application

	// CheckpointInterval K: a checkpoint is taken every K sequence numbers.
	CheckpointInterval uint64
	// Window L: sequence numbers in (h, h+L] are accepted, where h is the
	// stable checkpoint; a multiple of K, at least 2K.
	Window uint64
	// MaxBatch and MaxBatchBytes bound a batch; BatchDelay is how many ticks
	// the primary waits for a batch to fill before proposing it.
	MaxBatch      int
	MaxBatchBytes int
	BatchDelay    int
	// MaxInFlight bounds the batches the primary has proposed and not yet
	// executed (pipelining depth).
	MaxInFlight int
	// PipelineDepth is how many batches in flight the primary paces its
	// proposals for: a batch that is not full also waits, after the last
	// proposal, a PipelineDepth-th of the time batches have recently taken
	// from proposal to execution (see pace.go). At most MaxInFlight.
	PipelineDepth int
	// MaxPending bounds the client requests a replica holds until they
	// execute (one per client): requests of further clients are dropped, so
	// a flood of fresh client keys cannot exhaust its memory. Requests in
	// batches the primary proposed are always taken.
	MaxPending int
	// ViewChangeTimeout is how many ticks a replica waits for a pending
	// request to execute (or for a new view) before it starts a view change;
	// it doubles on every consecutive view change.
	ViewChangeTimeout int
	// StatusInterval is how often (in ticks) a replica broadcasts its status
	// so peers can retransmit what it misses.
	StatusInterval int
	// TransferDelay is how many ticks a replica that learns of a stable
	// checkpoint beyond its execution waits to catch up by itself before it
	// asks for state; TransferRetry is how long it waits for a response.
	TransferDelay int
	TransferRetry int
	// Verify checks signatures; nil means ed25519.Verify.
	Verify VerifyFunc
	// Authenticate vouches for unsigned requests; nil means the App's
	// AuthenticateRequest if it is a RequestAuthenticator, else unsigned
	// requests are rejected as badly signed.
	Authenticate AuthenticateFunc
}

// Defaults for zero Config tunables.
const (
	DefaultCheckpointInterval = 16
	DefaultMaxBatch           = 256
	DefaultMaxBatchBytes      = 256 << 10
	DefaultBatchDelay         = 1
	DefaultMaxInFlight        = 16
	DefaultPipelineDepth      = 6
	DefaultMaxPending         = 1 << 16
	DefaultViewChangeTimeout  = 40
	DefaultStatusInterval     = 8
	DefaultTransferDelay      = 4
	DefaultTransferRetry      = 16
)

// ErrConfig is returned (wrapped) for an invalid Config.
var ErrConfig = errors.New("pbft: invalid config")

func (c *Config) withDefaults() (Config, error) {
	out := *c
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if out.CheckpointInterval == 0 {
		out.CheckpointInterval = DefaultCheckpointInterval
	}
	if out.Window == 0 {
		out.Window = 2 * out.CheckpointInterval
	}
	def(&out.MaxBatch, DefaultMaxBatch)
	def(&out.MaxBatchBytes, DefaultMaxBatchBytes)
	def(&out.BatchDelay, DefaultBatchDelay)
	def(&out.MaxInFlight, DefaultMaxInFlight)
	def(&out.PipelineDepth, min(DefaultPipelineDepth, out.MaxInFlight))
	def(&out.MaxPending, DefaultMaxPending)
	def(&out.ViewChangeTimeout, DefaultViewChangeTimeout)
	def(&out.StatusInterval, DefaultStatusInterval)
	def(&out.TransferDelay, DefaultTransferDelay)
	def(&out.TransferRetry, DefaultTransferRetry)
	if out.Verify == nil {
		out.Verify = ed25519.Verify
	}
	out.Authenticate = AuthenticatorOf(&out)
	n := len(out.Replicas)
	switch {
	case n == 0 || (n-1)%3 != 0 || n > MaxReplicas:
		return out, fmt.Errorf("%w: %d replicas is not 3f+1 (at most %d)", ErrConfig, n, MaxReplicas)
	case int(out.ID) >= n:
		return out, fmt.Errorf("%w: replica id %d out of range", ErrConfig, out.ID)
	case len(out.Key) != ed25519.PrivateKeySize:
		return out, fmt.Errorf("%w: bad private key", ErrConfig)
	case !out.Key.Public().(ed25519.PublicKey).Equal(out.Replicas[out.ID]):
		return out, fmt.Errorf("%w: key does not match replica %d", ErrConfig, out.ID)
	case out.App == nil:
		return out, fmt.Errorf("%w: no application", ErrConfig)
	case out.Window < 2*out.CheckpointInterval || out.Window%out.CheckpointInterval != 0:
		return out, fmt.Errorf("%w: window %d is not a multiple of the checkpoint interval %d, at least twice it",
			ErrConfig, out.Window, out.CheckpointInterval)
	case out.PipelineDepth > out.MaxInFlight:
		return out, fmt.Errorf("%w: pipeline depth %d exceeds max in flight %d", ErrConfig, out.PipelineDepth, out.MaxInFlight)
	case out.MaxBatch > MaxBatchRequests:
		return out, fmt.Errorf("%w: max batch %d exceeds %d", ErrConfig, out.MaxBatch, MaxBatchRequests)
	}
	for i, k := range out.Replicas {
		if len(k) != ed25519.PublicKeySize {
			return out, fmt.Errorf("%w: replica %d key has %d bytes", ErrConfig, i, len(k))
		}
	}
	return out, nil
}
