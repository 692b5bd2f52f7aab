package pbft

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"testing"
)

// BenchmarkPrimaryRequestArrival measures what the primary spends on one
// arriving request while a batch of size requests fills (from distinct
// clients, one request each) and is proposed: the cost per request should
// not grow with the batch.
func BenchmarkPrimaryRequestArrival(b *testing.B) {
	for _, size := range []int{32, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			var pubs []ed25519.PublicKey
			for i := range 4 {
				pubs = append(pubs, testKey("replica", i).Public().(ed25519.PublicKey))
			}
			n, err := New(Config{Domain: testDomain, ID: 0, Key: testKey("replica", 0), Replicas: pubs, App: &counterApp{},
				CheckpointInterval: 1 << 20, MaxBatch: size, BatchDelay: 1 << 30,
				Authenticate: func([32]byte, uint64, []byte) bool { return true }})
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]Request, size)
			for i := range reqs {
				binary.BigEndian.PutUint64(reqs[i].Client[:], uint64(i))
				reqs[i].Op = []byte("op")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for round := range b.N {
				for i := range reqs {
					q := reqs[i]
					q.Timestamp = uint64(round) + 1
					if err := n.Propose(&q); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if n.nextSeq != uint64(round)+1 {
					b.Fatalf("round %d: %d batches proposed", round, n.nextSeq)
				}
				// As if the batch executed: the primary forgets its
				// requests and their pre-prepare.
				n.Ready()
				n.Advance()
				n.lastExec, n.applied = n.nextSeq, n.nextSeq
				delete(n.log, n.nextSeq)
				clear(n.pending)
				clear(n.assigned)
				n.queue = n.queue[:0]
				n.rescan()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/request")
		})
	}
}
