package pbftsim

import (
	"flag"
	"runtime"
	"testing"
	"time"
)

var (
	flagSeeds = flag.Int("seeds", 0, "number of simulator seeds to run (default 2000, 40 with -short, 30 under -race)")
	flagSeed  = flag.Int64("seed", -1, "replay exactly one simulator seed")
	flagFirst = flag.Uint64("first-seed", 1, "first simulator seed")
)

func TestSimulatorSeeds(t *testing.T) {
	seeds := 2000 // "thousands of seeds in a few minutes" (about 75 s on 2 cores)
	switch {
	case *flagSeeds > 0:
		seeds = *flagSeeds
	case raceEnabled:
		seeds = 30
	case testing.Short():
		seeds = 40
	}
	first := *flagFirst
	if *flagSeed >= 0 {
		first, seeds = uint64(*flagSeed), 1
	}
	start := time.Now()
	var total Report
	for seed := first; seed < first+uint64(seeds); seed++ {
		o := Scenario(seed)
		rep, err := Run(o)
		if err != nil {
			t.Errorf("%v\n  scenario: %+v\n  replay: go test ./consensus/pbftsim -run TestSimulatorSeeds -seed %d -v", err, o, seed)
			continue
		}
		if *flagSeed >= 0 {
			t.Logf("scenario %+v\nreport %+v", o, rep)
		}
		total.Completed += rep.Completed
		total.ViewChanges += rep.ViewChanges
		total.NewViews += rep.NewViews
		total.StateTransfers += rep.StateTransfers
		total.Rejected += rep.Rejected
		total.Malformed += rep.Malformed
		total.Delivered += rep.Delivered
		total.Executed += rep.Executed
		total.Ticks += rep.Ticks
		total.Dropped += rep.Dropped
	}
	t.Logf("%d seeds in %v on %d CPUs: %+v", seeds, time.Since(start).Round(time.Millisecond), runtime.NumCPU(), total)
}

// TestSimulatorEveryByzantineKind runs each Byzantine behaviour with
// lossy links, partitions and crashes on a few fixed seeds.
func TestSimulatorEveryByzantineKind(t *testing.T) {
	for _, byz := range []Byzantine{ByzEquivocate, ByzGarbage, ByzTwin, ByzSilent} {
		for seed := uint64(1); seed <= 3; seed++ {
			o := Options{Seed: seed, Replicas: 4, Clients: 3, Requests: 10, FaultTicks: 300, MaxTicks: 8000,
				Drop: 0.1, Duplicate: 0.1, MaxDelay: 3, Partitions: true, Crashes: true, Byzantine: byz,
				CheckpointInterval: 3, MaxBatch: 2, ViewChangeTimeout: 25}
			if byz != ByzEquivocate {
				o.ByzID = int(seed) % 4
			}
			rep, err := Run(o)
			if err != nil {
				t.Errorf("%v seed %d: %v", byz, seed, err)
				continue
			}
			if rep.Completed != o.Clients*o.Requests {
				t.Errorf("%v seed %d: %d requests completed", byz, seed, rep.Completed)
			}
			if byz == ByzGarbage && rep.Rejected+rep.Malformed == 0 {
				t.Errorf("garbage seed %d: nothing rejected", seed)
			}
		}
	}
}

// TestSimulatorDeterministic checks that a seed replays exactly.
func TestSimulatorDeterministic(t *testing.T) {
	o := Scenario(7)
	a, errA := Run(o)
	b, errB := Run(o)
	if a != b || (errA == nil) != (errB == nil) {
		t.Fatalf("seed 7 ran differently: %+v / %+v", a, b)
	}
}
