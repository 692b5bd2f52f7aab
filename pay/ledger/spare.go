package ledger

import (
	"runtime"
	"runtime/metrics"
)

// The scheduler metrics spareProcs reads.
const (
	metricRunning  = "/sched/goroutines/running:goroutines"
	metricRunnable = "/sched/goroutines/runnable:goroutines"
)

// spareProcs returns how many of the process's processors (GOMAXPROCS)
// have nothing to do at this moment: neither running a goroutine other
// than the caller nor owed one that waits to run. The runtime's count is
// approximate; 0 when it cannot tell.
func spareProcs() int {
	s := [2]metrics.Sample{{Name: metricRunning}, {Name: metricRunnable}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	procs := runtime.GOMAXPROCS(0)
	busy := max(s[0].Value.Uint64(), 1) + s[1].Value.Uint64() // the caller runs
	if busy >= uint64(procs) {
		return 0
	}
	return procs - int(busy)
}

// verifyGroups is how many groups verifyBatch splits n signatures into
// when spare processors are idle: one per processor that would otherwise
// wait (the caller's included), no group smaller than minBatchVerify.
// Splitting costs per signature (a smaller batch is less efficient), so it
// only pays where a processor would idle: a shard's replicas at full load
// keep every processor busy, and there one batch on the caller's is
// cheaper (BENCHMARKS.md).
func verifyGroups(n, spare int) int {
	return max(1, min(1+spare, n/minBatchVerify))
}
