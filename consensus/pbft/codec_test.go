package pbft

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/x402/x402/internal/wire"
)

// sampleMessages returns one signed message of every kind, with nested
// certificates, for round trips and the fuzz seed corpus.
func sampleMessages() []Message {
	ck := testKey("client", 0)
	q := &Request{Timestamp: 42, Op: []byte("transfer 5")}
	copy(q.Client[:], ck.Public().(ed25519.PublicKey))
	Sign(testDomain, ck, q)
	d := testDomain.BatchDigest([]*Request{q})
	pp := &PrePrepare{View: 1, Seq: 3, Digest: d, Replica: 1, Batch: []*Request{q}}
	Sign(testDomain, testKey("replica", 1), pp)
	var prepares []*Prepare
	for _, r := range []uint32{2, 3} {
		p := &Prepare{View: 1, Seq: 3, Digest: d, Replica: r}
		Sign(testDomain, testKey("replica", int(r)), p)
		prepares = append(prepares, p)
	}
	cm := &Commit{View: 1, Seq: 3, Digest: d, Replica: 2}
	Sign(testDomain, testKey("replica", 2), cm)
	var proof []*Checkpoint
	for r := range 3 {
		c := &Checkpoint{Seq: 4, Digest: Digest{9}, Replica: uint32(r)}
		Sign(testDomain, testKey("replica", r), c)
		proof = append(proof, c)
	}
	vc := &ViewChange{View: 2, Replica: 3, StableSeq: 4, StableDigest: Digest{9}, Proof: proof,
		Prepared: []PreparedCert{{PrePrepare: pp, Prepares: prepares}}}
	Sign(testDomain, testKey("replica", 3), vc)
	nv := &NewView{View: 2, Replica: 2, ViewChanges: []*ViewChange{vc}, PrePrepares: []*PrePrepare{pp}}
	Sign(testDomain, testKey("replica", 2), nv)
	rep := &Reply{View: 1, Timestamp: 42, Client: q.Client, Replica: 0, Result: []byte("ok"), Index: 2,
		Proof: []Digest{{3}, {4}}} // the third of three replies to one batch
	Sign(testDomain, testKey("replica", 0), rep)
	st := &Status{Replica: 1, View: 2, Active: true, LastExec: 7, Stable: 4}
	Sign(testDomain, testKey("replica", 1), st)
	sr := &StateRequest{Replica: 1, Seq: 4}
	Sign(testDomain, testKey("replica", 1), sr)
	resp := &StateResponse{Replica: 0, Seq: 4, Digest: Digest{9}, Proof: proof, AppDigest: Digest{1},
		Clients: []ClientRecord{{Client: q.Client, Timestamp: 42, Result: []byte("ok")}}, AppState: []byte("state")}
	Sign(testDomain, testKey("replica", 0), resp)
	return []Message{q, pp, prepares[0], cm, rep, proof[0], vc, nv, st, sr, resp}
}

func TestCodecRoundTripEveryKind(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Encode(m)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%v: %v", m.Kind(), err)
		}
		if got.Kind() != m.Kind() || !bytes.Equal(Encode(got), b) {
			t.Fatalf("%v: round trip differs", m.Kind())
		}
		if !bytes.Equal(testDomain.SignedBytes(got), testDomain.SignedBytes(m)) {
			t.Fatalf("%v: signed bytes differ after decoding", m.Kind())
		}
		// Every strict prefix is rejected, and so is a trailing byte.
		for i := range len(b) {
			if _, err := Decode(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v: prefix of %d bytes: %v", m.Kind(), i, err)
			}
		}
		if _, err := Decode(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v: trailing byte accepted", m.Kind())
		}
	}
}

// TestDecodeKeepsNothingOfItsInput: a decoded message owns its bytes, so
// the transport reads every frame into one reused buffer.
func TestDecodeKeepsNothingOfItsInput(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Encode(m)
		want := bytes.Clone(b)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%v: %v", m.Kind(), err)
		}
		for i := range b {
			b[i] = 0xa5
		}
		if !bytes.Equal(Encode(got), want) {
			t.Fatalf("%v: the decoded message changed with the buffer it was read from", m.Kind())
		}
	}
}

// A reply's tentative flag is signed and has one encoding.
func TestReplyTentativeFlagIsSignedAndCanonical(t *testing.T) {
	rep := &Reply{View: 1, Timestamp: 42, Client: ClientID{7}, Replica: 0, Tentative: true, Result: []byte("ok")}
	Sign(testDomain, testKey("replica", 0), rep)
	b := Encode(rep)
	got, err := Decode(b)
	if err != nil || !got.(*Reply).Tentative {
		t.Fatalf("tentative reply round trip: %+v, %v", got, err)
	}
	flipped := *rep
	flipped.Tentative = false
	if verify(testDomain, ed25519.Verify, testKey("replica", 0).Public().(ed25519.PublicKey), &flipped) {
		t.Fatal("a tentative reply's signature verifies as a committed one")
	}
	const flag = 1 + 8 + 8 + 32 + 4 // after kind, view, timestamp, client, replica
	if b[flag] != 1 {
		t.Fatalf("flag byte at %d is %d", flag, b[flag])
	}
	b[flag] = 2
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("flag byte 2: %v", err)
	}
}

func TestDecodeRejectsUnknownKindAndBadBool(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {200}, {byte(KindStatus), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2}} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", b, err)
		}
	}
}

// bigStateResponse is a stored checkpoint of a shard with n clients whose
// last results are 180 bytes, and an application state of appBytes.
func bigStateResponse(n, appBytes int) *StateResponse {
	sr := &StateResponse{Seq: 64, AppState: bytes.Repeat([]byte{7}, appBytes)}
	for i := range 3 {
		sr.Proof = append(sr.Proof, &Checkpoint{Seq: 64, Replica: uint32(i)})
	}
	for i := range n {
		sr.Clients = append(sr.Clients, ClientRecord{Client: ClientID{byte(i), byte(i >> 8)}, Timestamp: uint64(i), Result: bytes.Repeat([]byte{'r'}, 180)})
	}
	return sr
}

// TestBigMessagesAreWrittenIntoOneBuffer: a state response is encoded
// without growing its buffer, and its bytes decode back to it.
func TestBigMessagesAreWrittenIntoOneBuffer(t *testing.T) {
	for _, c := range []struct{ clients, app int }{{0, 0}, {1, 10}, {4000, 400 << 10}, {100, 3 * wire.MaxBytes / 2}} {
		sr := bigStateResponse(c.clients, c.app)
		b := Encode(sr)
		if hint := sizeHint(sr); len(b) > hint || cap(b) > hint {
			t.Fatalf("%d clients, %d bytes of state: encoded %d bytes (capacity %d), hint %d", c.clients, c.app, len(b), cap(b), hint)
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.(*StateResponse); len(got.Clients) != c.clients || len(got.AppState) != c.app {
			t.Fatalf("decoded %d clients and %d bytes of state", len(got.Clients), len(got.AppState))
		}
	}
	for _, n := range []int{0, 1, 256} {
		pp := &PrePrepare{Seq: 9}
		for i := range n {
			pp.Batch = append(pp.Batch, &Request{Client: ClientID{byte(i)}, Timestamp: 1, Op: bytes.Repeat([]byte{'o'}, 200)})
		}
		b := Encode(pp)
		if hint := sizeHint(pp); len(b) > hint || cap(b) > hint {
			t.Fatalf("pre-prepare of %d requests: encoded %d bytes (capacity %d), hint %d", n, len(b), cap(b), hint)
		}
		if m, err := Decode(b); err != nil || len(m.(*PrePrepare).Batch) != n {
			t.Fatalf("pre-prepare of %d requests: %v", n, err)
		}
	}
	// Requests and replies, sent once per transaction, are sized exactly.
	for _, m := range []Message{
		&Request{Client: ClientID{1}, Timestamp: 2},
		&Request{Client: ClientID{1}, Timestamp: 2, Op: bytes.Repeat([]byte{'o'}, 1000)},
		&Reply{View: 1, Timestamp: 2, Client: ClientID{3}, Replica: 1},
		&Reply{View: 1, Timestamp: 2, Client: ClientID{3}, Replica: 1, Tentative: true, Result: bytes.Repeat([]byte{'r'}, 300),
			Index: 5000, Proof: make([]Digest, MaxReplyProof)},
	} {
		b := Encode(m)
		if hint := sizeHint(m); len(b) != hint || cap(b) != hint {
			t.Fatalf("%T: encoded %d bytes (capacity %d), hint %d", m, len(b), cap(b), hint)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
	}
}

// BenchmarkEncodeStateResponse encodes a checkpoint of 4,000 clients and
// 400 KB of application state, as a replica stores one.
func BenchmarkEncodeStateResponse(b *testing.B) {
	sr := bigStateResponse(4000, 400<<10)
	b.ReportAllocs()
	for b.Loop() {
		Encode(sr)
	}
}

// BenchmarkStateDigest digests the client table of 4,000 clients, as a
// replica does at every checkpoint.
func BenchmarkStateDigest(b *testing.B) {
	sr := bigStateResponse(4000, 0)
	b.ReportAllocs()
	for b.Loop() {
		testDomain.StateDigest(Digest{}, sr.Clients)
	}
}

// TestBatchDigestIsTheHashOfTheEncodedBatch: the batch digest, hashed a
// request at a time, is the SHA-256 of the prefix and the batch's
// encoding, for batches small and larger than its buffer.
func TestBatchDigestIsTheHashOfTheEncodedBatch(t *testing.T) {
	for _, n := range []int{0, 1, 7, 200} {
		batch := make([]*Request, n)
		for i := range batch {
			batch[i] = &Request{Client: ClientID{byte(i)}, Timestamp: uint64(i), Op: bytes.Repeat([]byte{byte(i)}, i*3), Sig: Signature{byte(i), 1}}
		}
		w := wire.NewWriter(0).String(Context + "/batch").String(testDomain.ChainID).U32(testDomain.Shard)
		writeBatch(w, batch)
		if got, want := testDomain.BatchDigest(batch), sha256.Sum256(w.Bytes()); got != want {
			t.Fatalf("batch of %d: digest %x, want %x", n, got, want)
		}
	}
}

// TestRequestEncodedSize: a request's EncodedSize is its encoding's length.
func TestRequestEncodedSize(t *testing.T) {
	for _, q := range []*Request{{}, {Client: ClientID{1}, Timestamp: 9, Op: []byte("op"), Sig: Signature{2}}, UnsignedRequest(ClientID{3}, 4, make([]byte, 300))} {
		if got, want := q.EncodedSize(), len(Encode(q)); got != want {
			t.Fatalf("EncodedSize %d, encoding %d bytes", got, want)
		}
	}
}
