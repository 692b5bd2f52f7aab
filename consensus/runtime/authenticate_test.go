package runtime

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x402/x402/consensus/pbft"
)

// batchAuthApp is a counterApp that authenticates unsigned requests, those
// whose op starts with "ok/", and counts those it is asked about together.
type batchAuthApp struct {
	*counterApp
	together atomic.Uint64
}

func (a *batchAuthApp) AuthenticateRequest(_ [32]byte, _ uint64, op []byte) bool {
	return bytes.HasPrefix(op, []byte("ok/"))
}

func (a *batchAuthApp) AuthenticateRequests(clients [][32]byte, timestamps []uint64, ops [][]byte) []bool {
	a.together.Add(uint64(len(ops)))
	out := make([]bool, len(ops))
	for i := range ops {
		out[i] = a.AuthenticateRequest(clients[i], timestamps[i], ops[i])
	}
	return out
}

var _ pbft.BatchAuthenticator = (*batchAuthApp)(nil)

// TestUnsignedRequestsAreAuthenticatedTogether: with an application that
// authenticates many requests at once, every unsigned request a replica
// receives (from the client, and a backup's again in the pre-prepare) goes
// through it, and each executes exactly once.
func TestUnsignedRequestsAreAuthenticatedTogether(t *testing.T) {
	const n = 64
	apps := make([]*batchAuthApp, 4)
	var mu sync.Mutex
	c := newCluster(t, clusterOpts{app: func(i int, a *counterApp) pbft.Application {
		mu.Lock()
		defer mu.Unlock()
		apps[i] = &batchAuthApp{counterApp: a}
		return apps[i]
	}})
	cl := c.client(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			res, err := cl.SubmitUnsigned(ctx, [32]byte(pub), 1, fmt.Appendf(nil, "ok/k%d", i%4))
			if err == nil && len(res) == 0 {
				err = fmt.Errorf("request %d: empty result", i)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "replicas to converge", func() bool { return c.converged(n) })
	mu.Lock()
	defer mu.Unlock()
	for i, a := range apps {
		for k := range 4 {
			if got := a.count(fmt.Sprintf("ok/k%d", k)); got != n/4 {
				t.Fatalf("replica %d: counter ok/k%d = %d, want %d (exactly once)", i, k, got, n/4)
			}
		}
		if got := a.together.Load(); got < n {
			t.Errorf("replica %d authenticated %d requests together, want every one of the %d it got", i, got, n)
		}
	}
}

// TestPrePrepareBatchIsCheckedTogether: a backup's verifier hands a
// pre-prepare's unsigned requests to the application at once, in order,
// and checks its signed ones itself.
func TestPrePrepareBatchIsCheckedTogether(t *testing.T) {
	d := pbft.Domain{ChainID: "x402-test", Shard: 1}
	key := genKey(t)
	v := newVerifier(d, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
	var single int
	v.auth = func([32]byte, uint64, []byte) bool { single++; return true }
	var got []string
	v.authBatch = func(_ [][32]byte, _ []uint64, ops [][]byte) []bool {
		ok := make([]bool, len(ops))
		for i, op := range ops {
			got = append(got, string(op))
			ok[i] = string(op) == "b"
		}
		return ok
	}
	signer := genKey(t)
	signed := &pbft.Request{Client: pbft.ClientID(signer.Public().(ed25519.PublicKey)), Timestamp: 1, Op: []byte("signed")}
	pbft.Sign(d, signer, signed)
	pp := &pbft.PrePrepare{Seq: 1, Batch: []*pbft.Request{
		pbft.UnsignedRequest([32]byte{1}, 1, []byte("a")), signed, pbft.UnsignedRequest([32]byte{2}, 1, []byte("b")),
	}}
	v.precheck(pp)
	if fmt.Sprint(got) != "[a b]" || single != 0 {
		t.Fatalf("the application got %v together and %d alone, want [a b] together", got, single)
	}
	// The core takes the application's verdicts from the requests: it asks
	// again only about those it did not vouch for.
	if a, b := pp.Batch[0], pp.Batch[2]; a.Vouched || !b.Vouched || signed.Vouched {
		t.Fatalf("vouched: a %v, b %v, signed %v; want only b (the one the application accepted)", a.Vouched, b.Vouched, signed.Vouched)
	}
	if !v.cached(tripleKey(signer.Public().(ed25519.PublicKey), d.SignedBytes(signed), signed.Sig[:])) {
		t.Fatal("the signed request's signature was not checked ahead")
	}
}
