package pbft

import (
	"errors"
	"fmt"

	"github.com/x402/x402/internal/wire"
)

// Decoder limits: a message exceeding one is rejected as malformed.
const (
	// MaxOpBytes bounds a request's operation.
	MaxOpBytes = 64 << 10
	// MaxResultBytes bounds a reply's result.
	MaxResultBytes = 64 << 10
	// MaxBatchRequests bounds the requests of one pre-prepare.
	MaxBatchRequests = 4096
	// MaxReplicas bounds the signatures of one certificate and the view
	// changes of one new-view.
	MaxReplicas = 1024
	// MaxCertEntries bounds the prepared certificates of one view change
	// and the pre-prepares of one new-view.
	MaxCertEntries = 1 << 14
	// MaxReplyProof bounds the Merkle proof of a reply (a tree of up to
	// 2^MaxReplyProof replies, above MaxBatchRequests).
	MaxReplyProof = 13
	// MaxClients bounds the client records of one state response.
	MaxClients = 1 << 22
	// maxStateChunks bounds a snapshot to maxStateChunks × wire.MaxBytes.
	maxStateChunks = 4096
)

// ErrMalformed is returned (wrapped) for input that is not a valid encoding.
var ErrMalformed = errors.New("pbft: malformed message")

// Encode returns the canonical encoding of m: its kind, its body and its
// signature.
func Encode(m Message) []byte { return AppendEncoded(make([]byte, 0, sizeHint(m)), m) }

// AppendEncoded appends Encode(m) to b (in b's memory while it has room)
// and returns the extended buffer.
func AppendEncoded(b []byte, m Message) []byte {
	w := wire.Append(b).U8(uint8(m.Kind()))
	switch m := m.(type) {
	case *PrePrepare:
		writePrePrepare(w, m)
		return w.Bytes()
	case *Reply:
		writeReply(w, m)
		return w.Bytes()
	}
	m.body(w)
	s := m.sig()
	w.Fixed(s[:])
	return w.Bytes()
}

// Decode parses one encoded message. It rejects truncated input, unknown
// kinds, oversized fields and trailing bytes; it does not check signatures.
// The message keeps nothing of b, which the caller may reuse.
func Decode(b []byte) (Message, error) {
	r := wire.NewReader(b)
	var m Message
	switch k := Kind(r.U8()); k {
	case KindRequest:
		m = readRequest(r)
	case KindPrePrepare:
		m = readPrePrepare(r)
	case KindPrepare:
		v := &Prepare{}
		v.View, v.Seq, v.Digest, v.Replica = readVote(r)
		readSig(r, &v.Sig)
		m = v
	case KindCommit:
		v := &Commit{}
		v.View, v.Seq, v.Digest, v.Replica = readVote(r)
		readSig(r, &v.Sig)
		m = v
	case KindReply:
		m = readReply(r)
	case KindCheckpoint:
		m = readCheckpoint(r)
	case KindViewChange:
		m = readViewChange(r)
	case KindNewView:
		m = readNewView(r)
	case KindStatus:
		m = readStatus(r)
	case KindStateRequest:
		v := &StateRequest{Replica: r.U32(), Seq: r.U64()}
		readSig(r, &v.Sig)
		m = v
	case KindStateResponse:
		m = readStateResponse(r)
	default:
		if r.Err() == nil {
			r.Fail(fmt.Errorf("unknown kind %d", uint8(k)))
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

func readSig(r *wire.Reader, s *Signature) { r.Fixed(s[:]) }

// count reads a list length and checks it against max.
func count(r *wire.Reader, max int, what string) int {
	n := r.U32()
	if r.Err() != nil {
		return 0
	}
	if int64(n) > int64(max) {
		r.Fail(fmt.Errorf("%d %s exceed the limit of %d", n, what, max))
		return 0
	}
	return int(n)
}

func (m *Request) body(w *wire.Writer) {
	w.Fixed(m.Client[:]).U64(m.Timestamp).Var(m.Op)
}

func readRequest(r *wire.Reader) *Request {
	m := &Request{}
	r.Fixed(m.Client[:])
	m.Timestamp = r.U64()
	m.Op = r.Var(MaxOpBytes)
	readSig(r, &m.Sig)
	return m
}

func writeBatch(w *wire.Writer, batch []*Request) {
	w.U32(uint32(len(batch)))
	for _, q := range batch {
		q.body(w)
		w.Fixed(q.Sig[:])
	}
}

func readBatch(r *wire.Reader) []*Request {
	n := count(r, MaxBatchRequests, "requests")
	var out []*Request
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, readRequest(r))
	}
	return out
}

func (m *PrePrepare) header(w *wire.Writer) {
	w.U64(m.View).U64(m.Seq).Fixed(m.Digest[:]).U32(m.Replica)
}

// body of a pre-prepare is its signed header; the batch follows the
// signature in the encoding (see writePrePrepare).
func (m *PrePrepare) body(w *wire.Writer) { m.header(w) }

func writePrePrepare(w *wire.Writer, m *PrePrepare) {
	m.header(w)
	w.Fixed(m.Sig[:])
	writeBatch(w, m.Batch)
}

func readPrePrepare(r *wire.Reader) *PrePrepare {
	m := &PrePrepare{View: r.U64(), Seq: r.U64()}
	r.Fixed(m.Digest[:])
	m.Replica = r.U32()
	readSig(r, &m.Sig)
	m.Batch = readBatch(r)
	return m
}

func writeVote(w *wire.Writer, view, seq uint64, d Digest, replica uint32) {
	w.U64(view).U64(seq).Fixed(d[:]).U32(replica)
}

func readVote(r *wire.Reader) (view, seq uint64, d Digest, replica uint32) {
	view, seq = r.U64(), r.U64()
	r.Fixed(d[:])
	return view, seq, d, r.U32()
}

func (m *Prepare) body(w *wire.Writer) { writeVote(w, m.View, m.Seq, m.Digest, m.Replica) }
func (m *Commit) body(w *wire.Writer)  { writeVote(w, m.View, m.Seq, m.Digest, m.Replica) }

// body is what a reply's signature covers: the view, the replica and the
// root its leaf and proof lead to (see Reply), and whether it is tentative.
func (m *Reply) body(w *wire.Writer) {
	root := m.Root()
	w.U64(m.View).U32(m.Replica).U8(boolByte(m.Tentative)).Fixed(root[:])
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func writeReply(w *wire.Writer, m *Reply) {
	w.U64(m.View).U64(m.Timestamp).Fixed(m.Client[:]).U32(m.Replica).U8(boolByte(m.Tentative)).Var(m.Result).U32(m.Index).U8(uint8(len(m.Proof)))
	for _, d := range m.Proof {
		w.Fixed(d[:])
	}
	w.Fixed(m.Sig[:])
}

func readReply(r *wire.Reader) *Reply {
	m := &Reply{View: r.U64(), Timestamp: r.U64()}
	r.Fixed(m.Client[:])
	m.Replica = r.U32()
	switch t := r.U8(); t {
	case 0, 1:
		m.Tentative = t == 1
	default:
		r.Fail(fmt.Errorf("reply tentative flag %d is not 0 or 1", t))
	}
	m.Result = r.Var(MaxResultBytes)
	m.Index = r.U32()
	n := int(r.U8())
	if r.Err() == nil && n > MaxReplyProof {
		r.Fail(fmt.Errorf("reply proof of %d hashes exceeds %d", n, MaxReplyProof))
	}
	if r.Err() == nil && uint64(m.Index)>>n != 0 {
		r.Fail(fmt.Errorf("reply index %d beyond its proof of %d hashes", m.Index, n))
	}
	if r.Err() == nil && n > 0 {
		m.Proof = make([]Digest, n)
		for i := range m.Proof {
			r.Fixed(m.Proof[i][:])
		}
	}
	readSig(r, &m.Sig)
	return m
}

func (m *Checkpoint) body(w *wire.Writer) { w.U64(m.Seq).Fixed(m.Digest[:]).U32(m.Replica) }

func readCheckpoint(r *wire.Reader) *Checkpoint {
	m := &Checkpoint{Seq: r.U64()}
	r.Fixed(m.Digest[:])
	m.Replica = r.U32()
	readSig(r, &m.Sig)
	return m
}

func writeProof(w *wire.Writer, proof []*Checkpoint) {
	w.U32(uint32(len(proof)))
	for _, c := range proof {
		c.body(w)
		w.Fixed(c.Sig[:])
	}
}

func readProof(r *wire.Reader) []*Checkpoint {
	n := count(r, MaxReplicas, "checkpoints")
	var out []*Checkpoint
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, readCheckpoint(r))
	}
	return out
}

func (m *ViewChange) body(w *wire.Writer) {
	w.U64(m.View).U32(m.Replica).U64(m.StableSeq).Fixed(m.StableDigest[:])
	writeProof(w, m.Proof)
	w.U32(uint32(len(m.Prepared)))
	for _, pc := range m.Prepared {
		writePrePrepare(w, pc.PrePrepare)
		w.U32(uint32(len(pc.Prepares)))
		for _, p := range pc.Prepares {
			p.body(w)
			w.Fixed(p.Sig[:])
		}
	}
}

func readViewChange(r *wire.Reader) *ViewChange {
	m := &ViewChange{View: r.U64(), Replica: r.U32(), StableSeq: r.U64()}
	r.Fixed(m.StableDigest[:])
	m.Proof = readProof(r)
	n := count(r, MaxCertEntries, "prepared certificates")
	for i := 0; i < n && r.Err() == nil; i++ {
		pc := PreparedCert{PrePrepare: readPrePrepare(r)}
		k := count(r, MaxReplicas, "prepares")
		for j := 0; j < k && r.Err() == nil; j++ {
			p := &Prepare{}
			p.View, p.Seq, p.Digest, p.Replica = readVote(r)
			readSig(r, &p.Sig)
			pc.Prepares = append(pc.Prepares, p)
		}
		m.Prepared = append(m.Prepared, pc)
	}
	readSig(r, &m.Sig)
	return m
}

func (m *NewView) body(w *wire.Writer) {
	w.U64(m.View).U32(m.Replica)
	w.U32(uint32(len(m.ViewChanges)))
	for _, vc := range m.ViewChanges {
		vc.body(w)
		w.Fixed(vc.Sig[:])
	}
	w.U32(uint32(len(m.PrePrepares)))
	for _, pp := range m.PrePrepares {
		writePrePrepare(w, pp)
	}
}

func readNewView(r *wire.Reader) *NewView {
	m := &NewView{View: r.U64(), Replica: r.U32()}
	n := count(r, MaxReplicas, "view changes")
	for i := 0; i < n && r.Err() == nil; i++ {
		m.ViewChanges = append(m.ViewChanges, readViewChange(r))
	}
	n = count(r, MaxCertEntries, "pre-prepares")
	for i := 0; i < n && r.Err() == nil; i++ {
		m.PrePrepares = append(m.PrePrepares, readPrePrepare(r))
	}
	readSig(r, &m.Sig)
	return m
}

func (m *Status) body(w *wire.Writer) {
	w.U32(m.Replica).U64(m.View).Bool(m.Active).U64(m.LastExec).U64(m.Stable)
}

func readStatus(r *wire.Reader) *Status {
	m := &Status{Replica: r.U32(), View: r.U64(), Active: r.Bool(), LastExec: r.U64(), Stable: r.U64()}
	readSig(r, &m.Sig)
	return m
}

func (m *StateRequest) body(w *wire.Writer) { w.U32(m.Replica).U64(m.Seq) }

// sizeHint is about how many bytes m encodes to: exact enough that a big
// message (a pre-prepare and its batch; a state response: a stored
// checkpoint, a snapshot sent to a replica that fell behind) is written
// into one buffer, not grown into one, and so is every request and reply,
// the messages sent once per transaction.
func sizeHint(m Message) int {
	const small = 256
	switch m := m.(type) {
	case *Request:
		return 1 + m.size()
	case *Reply:
		return 1 + 8 + 8 + len(m.Client) + 4 + 1 + 4 + len(m.Result) + 4 + 1 + len(m.Proof)*len(Digest{}) + len(m.Sig)
	case *PrePrepare:
		return small + batchSize(m.Batch)
	case *StateResponse:
		return small + len(m.Proof)*small + clientsSize(m.Clients) + len(m.AppState) + 4*(len(m.AppState)/wire.MaxBytes+1)
	}
	return small
}

// batchSize is how many bytes writeBatch writes for batch.
func batchSize(batch []*Request) int {
	n := 4
	for _, q := range batch {
		n += q.size()
	}
	return n
}

// clientsSize is how many bytes writeClients writes for cs.
func clientsSize(cs []ClientRecord) int {
	n := 4
	for _, c := range cs {
		n += len(c.Client) + 8 + 4 + len(c.Result)
	}
	return n
}

func writeClients(w *wire.Writer, cs []ClientRecord) {
	w.U32(uint32(len(cs)))
	for _, c := range cs {
		w.Fixed(c.Client[:]).U64(c.Timestamp).Var(c.Result)
	}
}

func (m *StateResponse) body(w *wire.Writer) {
	w.U32(m.Replica).U64(m.Seq).Fixed(m.Digest[:])
	writeProof(w, m.Proof)
	w.Fixed(m.AppDigest[:])
	writeClients(w, m.Clients)
	chunks := (len(m.AppState) + wire.MaxBytes - 1) / wire.MaxBytes
	w.U32(uint32(chunks))
	for i := range chunks {
		w.Var(m.AppState[i*wire.MaxBytes : min(len(m.AppState), (i+1)*wire.MaxBytes)])
	}
}

func readStateResponse(r *wire.Reader) *StateResponse {
	m := &StateResponse{Replica: r.U32(), Seq: r.U64()}
	r.Fixed(m.Digest[:])
	m.Proof = readProof(r)
	r.Fixed(m.AppDigest[:])
	n := count(r, MaxClients, "client records")
	for i := 0; i < n && r.Err() == nil; i++ {
		c := ClientRecord{}
		r.Fixed(c.Client[:])
		c.Timestamp = r.U64()
		c.Result = r.Var(MaxResultBytes)
		m.Clients = append(m.Clients, c)
	}
	chunks := count(r, maxStateChunks, "state chunks")
	for i := 0; i < chunks && r.Err() == nil; i++ {
		c := r.Var(wire.MaxBytes)
		if i < chunks-1 && len(c) != wire.MaxBytes && r.Err() == nil {
			r.Fail(errors.New("short state chunk"))
		}
		if len(c) == 0 && r.Err() == nil {
			r.Fail(errors.New("empty state chunk"))
		}
		m.AppState = append(m.AppState, c...)
	}
	readSig(r, &m.Sig)
	return m
}
