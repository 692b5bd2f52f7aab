package runtime

import (
	"crypto/ed25519"
	"crypto/sha256"
	"sync"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/internal/edsig"
)

// verifyCacheSize bounds each of the verifier's two generations.
const verifyCacheSize = 1 << 14

// verifier checks message signatures ahead of the event loop: transport
// reader goroutines verify each inbound message in parallel and remember
// the (key, payload, signature) triples that verified, so the single-
// threaded core finds them in the cache instead of verifying again. Its
// Verify is a pure function of its arguments, as pbft.VerifyFunc requires:
// a cache hit is only ever a triple ed25519.Verify accepted.
//
// Unsigned requests are the application's to authenticate (pbft.Config's
// Authenticate): precheck asks it on the reader goroutines, so the
// application pays for its signature checks there and not on the event
// loop, and marks the requests it vouched for (pbft.Request.Vouched),
// which the core then takes without asking again. An application that
// authenticates many requests at once (pbft.BatchAuthenticator) gets a
// pre-prepare's unsigned requests together.
type verifier struct {
	domain   pbft.Domain
	replicas []ed25519.PublicKey
	// expanded holds the replicas' keys made ready for checking, by index.
	expanded []*edsig.Key
	auth     pbft.AuthenticateFunc // nil on clients
	// authBatch is the application's AuthenticateRequests, or nil.
	authBatch func(clients [][32]byte, timestamps []uint64, ops [][]byte) []bool

	mu       sync.Mutex
	cur, old map[[32]byte]struct{}
}

func newVerifier(d pbft.Domain, replicas []ed25519.PublicKey) *verifier {
	v := &verifier{domain: d, replicas: replicas, cur: map[[32]byte]struct{}{}, old: map[[32]byte]struct{}{}}
	for _, pub := range replicas {
		k, _ := edsig.Expand(pub) // nil for a key of the wrong size, which verifySignature passes to ed25519.Verify
		v.expanded = append(v.expanded, k)
	}
	return v
}

// verifySignature checks sig by pub over msg: with the expanded key when
// pub is a replica's, as ed25519.Verify would.
func (v *verifier) verifySignature(pub ed25519.PublicKey, msg, sig []byte) bool {
	for i, r := range v.replicas {
		if k := v.expanded[i]; k != nil && r.Equal(pub) {
			return k.Verify(msg, sig)
		}
	}
	return ed25519.Verify(pub, msg, sig)
}

func tripleKey(pub ed25519.PublicKey, msg, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(msg)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Verify implements pbft.VerifyFunc.
func (v *verifier) Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	return v.cached(tripleKey(pub, msg, sig)) || v.verifySignature(pub, msg, sig)
}

func (v *verifier) cached(k [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.cur[k]
	if !ok {
		_, ok = v.old[k]
	}
	return ok
}

// precheck verifies m's own signature (and those of a pre-prepare's
// requests, which a backup checks too) and caches what verifies.
func (v *verifier) precheck(m pbft.Message) {
	if pp, ok := m.(*pbft.PrePrepare); ok {
		v.checkBatch(pp.Batch)
	}
	v.check(m)
}

// checkBatch checks a batch's requests: its unsigned ones together when
// the application can (authBatch), the others one by one.
func (v *verifier) checkBatch(batch []*pbft.Request) {
	if v.authBatch == nil {
		for _, q := range batch {
			v.check(q)
		}
		return
	}
	var (
		unsigned   []*pbft.Request
		clients    [][32]byte
		timestamps []uint64
		ops        [][]byte
	)
	for _, q := range batch {
		if !q.Unsigned() {
			v.check(q)
			continue
		}
		unsigned = append(unsigned, q)
		clients, timestamps, ops = append(clients, q.Client), append(timestamps, q.Timestamp), append(ops, q.Op)
	}
	if len(ops) == 0 {
		return
	}
	if oks := v.authBatch(clients, timestamps, ops); len(oks) == len(unsigned) {
		for i, ok := range oks {
			unsigned[i].Vouched = ok // the core asks again about the others
		}
	}
}

func (v *verifier) check(m pbft.Message) {
	if q, ok := m.(*pbft.Request); ok && q.Unsigned() {
		if v.auth != nil {
			q.Vouched = v.auth(q.Client, q.Timestamp, q.Op) // the core asks again if not
		}
		return
	}
	pub, sig := v.signer(m)
	if pub == nil {
		return
	}
	msg := v.domain.SignedBytes(m)
	k := tripleKey(pub, msg, sig)
	if v.cached(k) || !v.verifySignature(pub, msg, sig) {
		return
	}
	v.mu.Lock()
	if len(v.cur) >= verifyCacheSize {
		v.old, v.cur = v.cur, make(map[[32]byte]struct{}, verifyCacheSize)
	}
	v.cur[k] = struct{}{}
	v.mu.Unlock()
}

// signer returns the key m claims to be signed by and its signature.
func (v *verifier) signer(m pbft.Message) (ed25519.PublicKey, []byte) {
	if q, ok := m.(*pbft.Request); ok {
		return ed25519.PublicKey(q.Client[:]), q.Sig[:]
	}
	id, ok := pbft.Sender(m)
	if !ok || int(id) >= len(v.replicas) {
		return nil, nil
	}
	var sig []byte
	switch m := m.(type) {
	case *pbft.PrePrepare:
		sig = m.Sig[:]
	case *pbft.Prepare:
		sig = m.Sig[:]
	case *pbft.Commit:
		sig = m.Sig[:]
	case *pbft.Reply:
		sig = m.Sig[:]
	case *pbft.Checkpoint:
		sig = m.Sig[:]
	case *pbft.ViewChange:
		sig = m.Sig[:]
	case *pbft.NewView:
		sig = m.Sig[:]
	case *pbft.Status:
		sig = m.Sig[:]
	case *pbft.StateRequest:
		sig = m.Sig[:]
	case *pbft.StateResponse:
		sig = m.Sig[:]
	default:
		return nil, nil
	}
	return v.replicas[id], sig
}
