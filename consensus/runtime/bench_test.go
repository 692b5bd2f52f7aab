package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/x402/x402/consensus/runtime/transport"
)

// loadResult is what a load run measured.
type loadResult struct {
	ops      int
	failed   int
	elapsed  time.Duration
	p50, p99 time.Duration
}

// runLoad submits n operations: from conc goroutines back to back when rate
// is 0, else at rate operations per second (open loop, latency counted from
// each operation's scheduled start).
func runLoad(ctx context.Context, cl *Client, n, conc int, rate float64) loadResult {
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	one := func(i int, at time.Time) {
		defer wg.Done()
		_, err := cl.Submit(ctx, fmt.Appendf(nil, "k%d", i%64))
		lat[i], failed[i] = time.Since(at), err != nil
	}
	if rate > 0 {
		interval := time.Duration(float64(time.Second) / rate)
		for i := range n {
			at := start.Add(time.Duration(i) * interval)
			if d := time.Until(at); d > 0 {
				<-time.After(d) // pacing the offered load, not synchronisation
			}
			wg.Add(1)
			go one(i, at)
		}
	} else {
		next := make(chan int)
		for range conc {
			go func() {
				for i := range next {
					one(i, time.Now())
				}
			}()
		}
		for i := range n {
			wg.Add(1)
			next <- i
		}
		close(next)
	}
	wg.Wait()
	r := loadResult{ops: n, elapsed: time.Since(start)}
	ok := lat[:0:0]
	for i, d := range lat {
		if failed[i] {
			r.failed++
		} else {
			ok = append(ok, d)
		}
	}
	slices.Sort(ok)
	if len(ok) > 0 {
		r.p50, r.p99 = ok[len(ok)/2], ok[min(len(ok)-1, len(ok)*99/100)]
	}
	return r
}

// BenchmarkCluster measures a 4-replica shard on loopback: throughput
// (ops committed per second) and finality (submit to f+1 replies) without
// and with injected one-way delay on every link.
func BenchmarkCluster(b *testing.B) {
	cases := []struct {
		name       string
		delay      time.Duration
		identities int
		rate       float64
	}{
		{"delay=0/closed-loop", 0, 128, 0},
		{"delay=25ms/rate=250", 25 * time.Millisecond, 256, 250},
		{"delay=25ms/rate=500", 25 * time.Millisecond, 512, 500},
		{"delay=25ms/rate=1000", 25 * time.Millisecond, 512, 1000},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c := newCluster(b, clusterOpts{impairment: transport.Impairment{Delay: bc.delay}})
			cl := c.client(b, bc.identities)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			// Warm up: connections, first view.
			if r := runLoad(ctx, cl, 2*bc.identities, bc.identities, 0); r.failed > 0 {
				b.Fatalf("warm-up: %d failed", r.failed)
			}
			b.ResetTimer()
			r := runLoad(ctx, cl, b.N, bc.identities, bc.rate)
			b.StopTimer()
			if r.failed > 0 {
				b.Fatalf("%d of %d failed", r.failed, r.ops)
			}
			b.Logf("N=%d: %s", b.N, c.describe())
			b.ReportMetric(float64(r.ops)/r.elapsed.Seconds(), "ops/s")
			b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
		})
	}
}
