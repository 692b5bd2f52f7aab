package pbft

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/x402/x402/internal/wire"
)

// Kind identifies a protocol message type; it is the first byte of every
// encoded message and part of every signed payload.
type Kind uint8

// The message kinds.
const (
	KindRequest Kind = 1 + iota
	KindPrePrepare
	KindPrepare
	KindCommit
	KindReply
	KindCheckpoint
	KindViewChange
	KindNewView
	KindStatus
	KindStateRequest
	KindStateResponse
	// KindReplyGroup marks the wire form of several replies under one
	// signature (see EncodeReplyGroup); it is never a Message of its own.
	KindReplyGroup
)

var kindNames = [...]string{"invalid", "request", "pre-prepare", "prepare", "commit", "reply",
	"checkpoint", "view-change", "new-view", "status", "state-request", "state-response", "reply-group"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Digest is a SHA-256 hash (of a batch or of a replica's state).
type Digest = [sha256.Size]byte

// Signature is an ed25519 signature.
type Signature = [ed25519.SignatureSize]byte

// ClientID identifies a client: it is the client's ed25519 public key, so
// a request's signature is checked against its own id.
type ClientID [ed25519.PublicKeySize]byte

// Message is one protocol message: *Request, *PrePrepare, *Prepare, *Commit,
// *Reply, *Checkpoint, *ViewChange, *NewView, *Status, *StateRequest or
// *StateResponse. Messages are immutable once signed.
type Message interface {
	// Kind reports the message's type.
	Kind() Kind
	body(w *wire.Writer)
	sig() *Signature
}

// Request is a client's signed operation. Timestamps of one client are
// strictly increasing; a replica executes each (client, timestamp) at most
// once and answers a retransmission with the cached reply.
type Request struct {
	Client    ClientID
	Timestamp uint64
	Op        []byte
	Sig       Signature

	// Vouched says the replica's runtime already had Config.Authenticate's
	// verdict on this unsigned request, and it was true (not encoded:
	// Decode never sets it), so the core does not ask again.
	Vouched bool

	// fromBatch marks a request a backup holds pending only because a
	// pre-prepare carried it (not encoded): the client's own copy, when it
	// comes, is then no retransmission.
	fromBatch bool
}

// UnsignedRequest returns the request of client at timestamp for op that
// carries no signature (an all-zero Sig): replicas accept it only when
// their Config.Authenticate vouches for it, and anyone holding a
// self-authenticating op can build it without the client's key.
func UnsignedRequest(client ClientID, timestamp uint64, op []byte) *Request {
	return &Request{Client: client, Timestamp: timestamp, Op: op}
}

// Unsigned reports whether r carries no signature (see UnsignedRequest).
func (r *Request) Unsigned() bool { return r.Sig == Signature{} }

// PrePrepare is the primary's assignment of sequence number Seq in View to
// the batch with digest Digest. The signature covers the header only; the
// attached Batch is checked against Digest, so a header with its signature
// is a transferable certificate part.
type PrePrepare struct {
	View    uint64
	Seq     uint64
	Digest  Digest
	Replica uint32
	Sig     Signature
	Batch   []*Request
}

// Prepare is a backup's agreement with a pre-prepare.
type Prepare struct {
	View    uint64
	Seq     uint64
	Digest  Digest
	Replica uint32
	Sig     Signature
}

// Commit says its sender has a prepared certificate for (View, Seq, Digest).
type Commit struct {
	View    uint64
	Seq     uint64
	Digest  Digest
	Replica uint32
	Sig     Signature
}

// Reply is a replica's signed result of a client's request. The replies a
// replica sends together (those of one executed batch) share one
// signature: it covers the root of a Merkle tree of their leaves
// (Reply.Leaf), and each reply carries its leaf's Index and the sibling
// hashes on the way to the root (Proof), so that every reply is still
// verifiable on its own, by anyone (a transferable receipt), while a batch
// of k replies costs the replica one signature instead of k.
//
// A Tentative reply was sent after the request's batch prepared, before it
// committed (Castro-Liskov's tentative execution): a client accepts a
// result from 2f+1 matching replies that are committed or tentative in one
// view, or from f+1 matching committed ones.
type Reply struct {
	View      uint64
	Timestamp uint64
	Client    ClientID
	Replica   uint32
	Tentative bool
	Result    []byte
	Index     uint32
	Proof     []Digest
	Sig       Signature
}

// Checkpoint says its sender's state after executing Seq has digest Digest.
type Checkpoint struct {
	Seq     uint64
	Digest  Digest
	Replica uint32
	Sig     Signature
}

// PreparedCert proves that a batch prepared: the pre-prepare and 2f
// matching prepares from distinct backups.
type PreparedCert struct {
	PrePrepare *PrePrepare
	Prepares   []*Prepare
}

// ViewChange asks to move to View. It carries the sender's stable
// checkpoint with its proof (2f+1 checkpoints; none for sequence 0) and a
// prepared certificate for every sequence above it that prepared at the
// sender (the one from the highest view).
type ViewChange struct {
	View         uint64
	Replica      uint32
	StableSeq    uint64
	StableDigest Digest
	Proof        []*Checkpoint
	Prepared     []PreparedCert
	Sig          Signature
}

// NewView starts View: 2f+1 view changes and the pre-prepares (the O set)
// the new primary computed from them, each signed on its own.
type NewView struct {
	View        uint64
	Replica     uint32
	ViewChanges []*ViewChange
	PrePrepares []*PrePrepare
	Sig         Signature
}

// Status is a replica's periodic summary; peers answer it with what the
// sender is missing (retransmission, new-view, checkpoint proofs).
type Status struct {
	Replica  uint32
	View     uint64
	Active   bool
	LastExec uint64
	Stable   uint64
	Sig      Signature
}

// StateRequest asks for a snapshot at or beyond a stable checkpoint.
type StateRequest struct {
	Replica uint32
	Seq     uint64
	Sig     Signature
}

// ClientRecord is one client's exactly-once state: its last executed
// timestamp and the result of that request.
type ClientRecord struct {
	Client    ClientID
	Timestamp uint64
	Result    []byte
}

// StateResponse carries a snapshot of a stable checkpoint: the proof, the
// application's digest and snapshot, and the replicas' client table. Its
// content is checked against the proof, not trusted for its signature.
type StateResponse struct {
	Replica   uint32
	Seq       uint64
	Digest    Digest
	Proof     []*Checkpoint
	AppDigest Digest
	Clients   []ClientRecord
	AppState  []byte
	Sig       Signature
}

// Kind implements Message.
func (*Request) Kind() Kind { return KindRequest }

// Kind implements Message.
func (*PrePrepare) Kind() Kind { return KindPrePrepare }

// Kind implements Message.
func (*Prepare) Kind() Kind { return KindPrepare }

// Kind implements Message.
func (*Commit) Kind() Kind { return KindCommit }

// Kind implements Message.
func (*Reply) Kind() Kind { return KindReply }

// Kind implements Message.
func (*Checkpoint) Kind() Kind { return KindCheckpoint }

// Kind implements Message.
func (*ViewChange) Kind() Kind { return KindViewChange }

// Kind implements Message.
func (*NewView) Kind() Kind { return KindNewView }

// Kind implements Message.
func (*Status) Kind() Kind { return KindStatus }

// Kind implements Message.
func (*StateRequest) Kind() Kind { return KindStateRequest }

// Kind implements Message.
func (*StateResponse) Kind() Kind { return KindStateResponse }

func (m *Request) sig() *Signature       { return &m.Sig }
func (m *PrePrepare) sig() *Signature    { return &m.Sig }
func (m *Prepare) sig() *Signature       { return &m.Sig }
func (m *Commit) sig() *Signature        { return &m.Sig }
func (m *Reply) sig() *Signature         { return &m.Sig }
func (m *Checkpoint) sig() *Signature    { return &m.Sig }
func (m *ViewChange) sig() *Signature    { return &m.Sig }
func (m *NewView) sig() *Signature       { return &m.Sig }
func (m *Status) sig() *Signature        { return &m.Sig }
func (m *StateRequest) sig() *Signature  { return &m.Sig }
func (m *StateResponse) sig() *Signature { return &m.Sig }

// Sender returns the replica id a replica message claims to come from, and
// false for client requests.
func Sender(m Message) (uint32, bool) {
	switch m := m.(type) {
	case *PrePrepare:
		return m.Replica, true
	case *Prepare:
		return m.Replica, true
	case *Commit:
		return m.Replica, true
	case *Reply:
		return m.Replica, true
	case *Checkpoint:
		return m.Replica, true
	case *ViewChange:
		return m.Replica, true
	case *NewView:
		return m.Replica, true
	case *Status:
		return m.Replica, true
	case *StateRequest:
		return m.Replica, true
	case *StateResponse:
		return m.Replica, true
	}
	return 0, false
}

// key identifies a request for exactly-once bookkeeping.
type reqKey struct {
	client ClientID
	ts     uint64
}

func (r *Request) key() reqKey { return reqKey{r.Client, r.Timestamp} }

// size approximates the encoded size of r for batching by bytes.
func (r *Request) size() int { return len(r.Op) + len(r.Client) + len(r.Sig) + 12 }

// EncodedSize is len(Encode(r)), without encoding it.
func (r *Request) EncodedSize() int { return 1 + r.size() }
