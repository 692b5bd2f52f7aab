package shard

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestBenchTimesTheStepsOfEachBatch: with a one-way delay D on every link,
// no backup can accept a pre-prepare sooner than D after the primary sent
// it, and the primary cannot hold a prepared certificate sooner than 2D
// after it (the prepares come back); the medians the bench reports respect
// both floors, so the steps are timed where they happen.
func TestBenchTimesTheStepsOfEachBatch(t *testing.T) {
	const delay = 15 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Bench(ctx, BenchConfig{Delay: delay, Rate: 100, Duration: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ph := res.Phases
	if ph == nil || ph.Batches == 0 {
		t.Fatalf("no batch steps reported: %+v", res)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if ph.PrePrepare < ms(delay) || ph.PrimaryPrepare < ms(2*delay) || ph.Prepare <= 0 || ph.Commit <= 0 {
		t.Fatalf("batch steps %+v: pre-prepare under %v or the primary's certificate under %v", ph, delay, 2*delay)
	}
	t.Logf("finality p50 %.1f ms; steps %+v", res.FinalityMsP50, *ph)
}
