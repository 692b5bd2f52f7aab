package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/x402/x402/consensus/pbft"
)

// entryVersion is the first byte of every encoded entry. Since version 3
// an entry's pre-prepares carry no batch: each batch is stored once in its
// own record (see Store.Save), not again with every change of its entry.
// Version 1 entries (every pre-prepare in full) and version 2 entries
// (each batch once, inline) still decode, with their batches.
const entryVersion = 3

// Entry flags. A batch usually appears up to three times in an entry (the
// accepted pre-prepare, the prepared certificate's and the committed one);
// the same* flags store it once and refer to it.
const (
	hasPrePrepare = 1 << iota
	hasPrepared
	hasCommitted
	// samePrepared: the prepared certificate's pre-prepare is PrePrepare.
	samePrepared
	// sameCommitted: CommitPP is PrePrepare.
	sameCommitted
	// committedPrepared: CommitPP is the prepared certificate's.
	committedPrepared
	v1Flags  = hasPrePrepare | hasPrepared | hasCommitted
	allFlags = v1Flags | samePrepared | sameCommitted | committedPrepared
)

// maxList bounds the prepares or commits of one stored entry.
const maxList = pbft.MaxReplicas

type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) msg(m pbft.Message) {
	at := len(w.b)
	w.u32(0) // the length, once known
	w.b = pbft.AppendEncoded(w.b, m)
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at-4))
}

// prePrepare writes pp without its batch.
func (w *writer) prePrepare(pp *pbft.PrePrepare) {
	header := *pp
	header.Batch = nil
	w.msg(&header)
}

// reader decodes the envelope; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(errors.New("truncated"))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) msg() pbft.Message {
	n := r.u32()
	b := r.take(int(n))
	if r.err != nil {
		return nil
	}
	m, err := pbft.Decode(b)
	if err != nil {
		r.fail(err)
		return nil
	}
	return m
}

func (r *reader) count(what string) int {
	n := r.u32()
	if r.err == nil && n > maxList {
		r.fail(fmt.Errorf("%d %s exceed %d", n, what, maxList))
		return 0
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

func as[T pbft.Message](r *reader, m pbft.Message) T {
	var zero T
	if r.err != nil {
		return zero
	}
	v, ok := m.(T)
	if !ok {
		r.fail(fmt.Errorf("stored %v where %T belongs", m.Kind(), zero))
		return zero
	}
	return v
}

func encodeEntry(e *pbft.Entry) []byte {
	w := &writer{b: make([]byte, 0, 512)}
	w.u8(entryVersion)
	w.u64(e.Seq)
	var flags uint8
	if e.PrePrepare != nil {
		flags |= hasPrePrepare
	}
	if e.Prepared != nil && e.Prepared.PrePrepare != nil {
		flags |= hasPrepared
	}
	if e.CommitPP != nil {
		flags |= hasCommitted
	}
	if flags&(hasPrePrepare|hasPrepared) == hasPrePrepare|hasPrepared && e.Prepared.PrePrepare == e.PrePrepare {
		flags |= samePrepared
	}
	switch {
	case flags&(hasPrePrepare|hasCommitted) == hasPrePrepare|hasCommitted && e.CommitPP == e.PrePrepare:
		flags |= sameCommitted
	case flags&(hasPrepared|hasCommitted) == hasPrepared|hasCommitted && e.CommitPP == e.Prepared.PrePrepare:
		flags |= committedPrepared
	}
	w.u8(flags)
	if flags&hasPrePrepare != 0 {
		w.prePrepare(e.PrePrepare)
	}
	if flags&hasPrepared != 0 {
		if flags&samePrepared == 0 {
			w.prePrepare(e.Prepared.PrePrepare)
		}
		w.u32(uint32(len(e.Prepared.Prepares)))
		for _, p := range e.Prepared.Prepares {
			w.msg(p)
		}
	}
	if flags&(hasCommitted|sameCommitted|committedPrepared) == hasCommitted {
		w.prePrepare(e.CommitPP)
	}
	w.u32(uint32(len(e.Commits)))
	for _, c := range e.Commits {
		w.msg(c)
	}
	return w.b
}

// decodeEntry decodes an entry. It reports whether its pre-prepares still
// need their batches (version 3, see prePrepares); older versions carry
// them.
func decodeEntry(b []byte) (pbft.Entry, bool, error) {
	r := &reader{b: b}
	v := r.u8()
	if r.err == nil && (v < 1 || v > entryVersion) {
		return pbft.Entry{}, false, fmt.Errorf("entry version %d, want 1 to %d", v, entryVersion)
	}
	known := uint8(allFlags)
	if v == 1 {
		known = v1Flags
	}
	e := pbft.Entry{Seq: r.u64()}
	flags := r.u8()
	switch {
	case r.err != nil:
	case flags&^known != 0:
		r.fail(fmt.Errorf("unknown entry flags %#x", flags))
	case flags&samePrepared != 0 && flags&(hasPrePrepare|hasPrepared) != hasPrePrepare|hasPrepared,
		flags&sameCommitted != 0 && flags&(hasPrePrepare|hasCommitted) != hasPrePrepare|hasCommitted,
		flags&committedPrepared != 0 && flags&(hasPrepared|hasCommitted) != hasPrepared|hasCommitted,
		flags&sameCommitted != 0 && flags&committedPrepared != 0:
		r.fail(fmt.Errorf("inconsistent entry flags %#x", flags))
	}
	if flags&hasPrePrepare != 0 {
		e.PrePrepare = as[*pbft.PrePrepare](r, r.msg())
	}
	if flags&hasPrepared != 0 {
		pc := &pbft.PreparedCert{PrePrepare: e.PrePrepare}
		if flags&samePrepared == 0 {
			pc.PrePrepare = as[*pbft.PrePrepare](r, r.msg())
		}
		n := r.count("prepares")
		for i := 0; i < n && r.err == nil; i++ {
			pc.Prepares = append(pc.Prepares, as[*pbft.Prepare](r, r.msg()))
		}
		e.Prepared = pc
	}
	switch {
	case flags&sameCommitted != 0:
		e.CommitPP = e.PrePrepare
	case flags&committedPrepared != 0 && e.Prepared != nil:
		e.CommitPP = e.Prepared.PrePrepare
	case flags&hasCommitted != 0:
		e.CommitPP = as[*pbft.PrePrepare](r, r.msg())
	}
	n := r.count("commits")
	for i := 0; i < n && r.err == nil; i++ {
		e.Commits = append(e.Commits, as[*pbft.Commit](r, r.msg()))
	}
	if err := r.done(); err != nil {
		return pbft.Entry{}, false, err
	}
	if v < entryVersion {
		return e, false, nil
	}
	for _, pp := range prePrepares(&e) {
		if len(pp.Batch) > 0 {
			return pbft.Entry{}, false, fmt.Errorf("batch of sequence %d stored inline in a version %d entry", pp.Seq, v)
		}
	}
	return e, true, nil
}

// prePrepares returns e's distinct pre-prepares.
func prePrepares(e *pbft.Entry) []*pbft.PrePrepare {
	var out []*pbft.PrePrepare
	add := func(pp *pbft.PrePrepare) {
		if pp != nil && !slices.Contains(out, pp) {
			out = append(out, pp)
		}
	}
	add(e.PrePrepare)
	if e.Prepared != nil {
		add(e.Prepared.PrePrepare)
	}
	add(e.CommitPP)
	return out
}

// batchKey names the record of the batch with digest d at seq; records
// sort by sequence number, so a checkpoint deletes a prefix.
func batchKey(seq uint64, d pbft.Digest) []byte {
	return append(seqKey(seq), d[:]...)
}

func encodeBatch(batch []*pbft.Request) []byte {
	size := 4
	for _, q := range batch {
		size += 4 + q.EncodedSize()
	}
	w := &writer{b: make([]byte, 0, size)}
	w.u32(uint32(len(batch)))
	for _, q := range batch {
		w.msg(q)
	}
	return w.b
}

func decodeBatch(b []byte) ([]*pbft.Request, error) {
	r := &reader{b: b}
	n := r.u32()
	if r.err == nil && n > pbft.MaxBatchRequests {
		return nil, fmt.Errorf("batch of %d requests exceeds %d", n, pbft.MaxBatchRequests)
	}
	var batch []*pbft.Request
	for i := uint32(0); i < n && r.err == nil; i++ {
		batch = append(batch, as[*pbft.Request](r, r.msg()))
	}
	return batch, r.done()
}

// encodeHard stores the hard state: the view, the changing flag and, when
// there is one, the new-view message that started the view (absent in
// files written before it was kept).
func encodeHard(h *pbft.HardState) []byte {
	w := &writer{}
	w.u64(h.View)
	if h.Changing {
		w.u8(1)
	} else {
		w.u8(0)
	}
	if h.NewView != nil {
		w.msg(h.NewView)
	}
	return w.b
}

func decodeHard(b []byte) (pbft.HardState, error) {
	r := &reader{b: b}
	h := pbft.HardState{View: r.u64()}
	switch c := r.u8(); {
	case r.err != nil:
	case c == 1:
		h.Changing = true
	case c != 0:
		r.fail(fmt.Errorf("changing flag %d", c))
	}
	if r.err == nil && len(r.b) > 0 {
		nv, ok := r.msg().(*pbft.NewView)
		switch {
		case r.err != nil:
		case !ok:
			r.fail(errors.New("not a new-view message"))
		case nv.View != h.View:
			r.fail(fmt.Errorf("new-view of view %d in the hard state of view %d", nv.View, h.View))
		default:
			h.NewView = nv
		}
	}
	return h, r.done()
}

// encodeCheckpoint stores a stable checkpoint as the (unsigned) state
// response that would serve it: the codec already carries every field,
// with the snapshot in chunks.
func encodeCheckpoint(cp *pbft.StableCheckpoint) []byte {
	return pbft.Encode(&pbft.StateResponse{Seq: cp.Seq, Digest: cp.Digest, Proof: cp.Proof,
		AppDigest: cp.AppDigest, Clients: cp.Clients, AppState: cp.AppState})
}

func decodeCheckpoint(b []byte) (*pbft.StableCheckpoint, error) {
	m, err := pbft.Decode(b)
	if err != nil {
		return nil, err
	}
	sr, ok := m.(*pbft.StateResponse)
	if !ok {
		return nil, fmt.Errorf("stored %v where a checkpoint belongs", m.Kind())
	}
	return &pbft.StableCheckpoint{Seq: sr.Seq, Digest: sr.Digest, Proof: sr.Proof,
		AppDigest: sr.AppDigest, Clients: sr.Clients, AppState: sr.AppState}, nil
}
