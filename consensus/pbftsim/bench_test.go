package pbftsim

import (
	"testing"
	"time"
)

// BenchmarkSimulatorCommit measures batches committed per second of wall
// time by a fault-free 4-replica shard in the simulator (one goroutine
// runs all replicas and clients, every replica verifying every signature
// itself), with 16 clients keeping one request each outstanding.
func BenchmarkSimulatorCommit(b *testing.B) {
	var batches, reqs uint64
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		o := Options{Seed: uint64(i + 1), Replicas: 4, Clients: 16, Requests: 50, FaultTicks: 0, MaxTicks: 100000,
			MaxDelay: 1, CheckpointInterval: 16, MaxBatch: 16, ViewChangeTimeout: 40, PlainVerify: true}
		start := time.Now()
		rep, err := Run(o)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		batches += rep.Executed
		reqs += uint64(rep.Completed)
	}
	b.ReportMetric(float64(batches)/elapsed.Seconds(), "batches/s")
	b.ReportMetric(float64(reqs)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(0, "ns/op")
}
