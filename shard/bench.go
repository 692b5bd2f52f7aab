package shard

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/x402/x402/consensus/runtime/transport"
	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// BenchConfig is a steady load of ledger transfers offered to a shard.
type BenchConfig struct {
	// Genesis names a running shard (its faucet funds the senders); empty
	// starts an in-process shard of Replicas on loopback.
	Genesis  string
	Replicas int
	// Delay is the one-way delay injected on every link of an in-process
	// shard (and on the client's).
	Delay time.Duration
	// Rate is the offered load in transactions per second (0: as fast as
	// the senders go); Duration how long it is offered.
	Rate     float64
	Duration time.Duration
	// Senders is how many accounts submit in parallel, each with its own
	// client identity and nonces in order (0: enough to keep Rate in
	// flight at the expected latency, at least 64; 256 when Rate is 0).
	Senders int
	// KillPrimaryAfter, when positive (in-process shards only), stops
	// replica 0 — the primary of view 0 — this far into the load; the
	// result then reports how long until the next transaction committed.
	KillPrimaryAfter time.Duration
	// CPUProfile, when set, receives a CPU profile of the measured window
	// (not of the set-up before it).
	CPUProfile io.Writer
}

// BenchResult is what `x402 bench shard` prints.
type BenchResult struct {
	Replicas      int     `json:"replicas"`
	Submitted     int     `json:"submitted"`
	Committed     int     `json:"committed"`
	Failed        int     `json:"failed"`
	TPS           float64 `json:"tps"`
	FinalityMsP50 float64 `json:"finality_ms_p50"`
	FinalityMsP99 float64 `json:"finality_ms_p99"`
	DelayMs       float64 `json:"delay_ms"`
	// PrimaryKilledToCommitMs is the time from stopping the primary to the
	// next committed transaction (only with KillPrimaryAfter).
	PrimaryKilledToCommitMs float64 `json:"primary_killed_to_commit_ms,omitempty"`
	// HeapMBPerReplica is the Go heap in use after the run (after a GC)
	// divided by the in-process replicas; RSSMB is the whole process's.
	HeapMBPerReplica float64 `json:"heap_mb_per_replica,omitempty"`
	RSSMB            float64 `json:"rss_mb,omitempty"`
	// CPUUsPerTx is the CPU time this process spent during the load
	// (user and system) per committed transaction: the whole in-process
	// shard, its client and the load generator, or only the client with a
	// running shard. Steadier than the rates on a shared machine.
	CPUUsPerTx float64 `json:"cpu_us_per_tx,omitempty"`
	// AllocKBPerTx is what the process allocated on the Go heap during the
	// load per committed transaction (the garbage collector's work).
	AllocKBPerTx float64 `json:"alloc_kb_per_tx,omitempty"`
	// Phases break an in-process shard's batches down by step.
	Phases *BenchPhases `json:"phases_ms_p50,omitempty"`
}

// Bench runs the load and reports it. Transactions in flight at the end
// are waited for, not abandoned.
func Bench(ctx context.Context, cfg BenchConfig, log *slog.Logger) (BenchResult, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Senders <= 0 {
		cfg.Senders = defaultSenders(cfg.Rate, cfg.Delay)
	}
	if cfg.Senders > transport.MaxAttach {
		return BenchResult{}, fmt.Errorf("bench: %d senders, at most %d (one client connection's identities)", cfg.Senders, transport.MaxAttach)
	}
	senders := make([]ed25519.PrivateKey, cfg.Senders)
	for i := range senders {
		k, err := keys.Generate()
		if err != nil {
			return BenchResult{}, err
		}
		senders[i] = k
	}
	im := transport.Impairment{Delay: cfg.Delay}
	rec := &phaseRecorder{}
	g, members, stop, err := benchShard(cfg, senders, im, rec, log)
	if err != nil {
		return BenchResult{}, err
	}
	defer stop()
	if cfg.KillPrimaryAfter > 0 && len(members) == 0 {
		return BenchResult{}, errors.New("bench: --kill-primary-after needs an in-process shard")
	}
	c, err := DialLedger(g, log, WithImpairment(im), WithIdentities(cfg.Senders))
	if err != nil {
		return BenchResult{}, err
	}
	defer c.Close()
	d := g.Ledger.Domain()
	sinkKey, err := keys.Generate()
	if err != nil {
		return BenchResult{}, err
	}
	sink := pay.AccountOf(sinkKey.Public().(ed25519.PublicKey))

	// Senders of a running shard fund themselves from its faucet.
	if cfg.Genesis != "" {
		if g.Ledger.Faucet == nil {
			return BenchResult{}, errors.New("bench: the shard's ledger has no faucet to fund the senders")
		}
		for _, k := range senders {
			if _, err := ledger.SubmitBody(ctx, c, d, k, ledger.Faucet{Asset: g.Ledger.Faucet.Asset}); err != nil {
				return BenchResult{}, fmt.Errorf("bench: fund sender: %w", err)
			}
		}
	}
	asset := pay.USD
	if g.Ledger.Faucet != nil && cfg.Genesis != "" {
		asset = g.Ledger.Faucet.Asset
	}
	// Everything the load needs before the clock starts: connections,
	// each sender's nonce, and its transactions signed ahead.
	if err := waitConnected(ctx, c); err != nil {
		return BenchResult{}, err
	}
	loads, err := prepareLoad(ctx, c, d, senders, presignCount(cfg), ledger.Transfer{To: sink, Asset: asset, Amount: 1})
	if err != nil {
		return BenchResult{}, err
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		res       = BenchResult{Replicas: len(g.Replicas), DelayMs: float64(cfg.Delay.Microseconds()) / 1000}
	)
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return BenchResult{}, fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rec.reset()
	cpuStart, allocStart := processCPU(), heapAllocated()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var pace *pacer
	if cfg.Rate > 0 {
		pace = newPacer(start, cfg.Rate)
	}
	var killedAt, firstAfterKill time.Time
	if cfg.KillPrimaryAfter > 0 {
		killTimer := time.AfterFunc(cfg.KillPrimaryAfter, func() {
			mu.Lock()
			killedAt = time.Now()
			mu.Unlock()
			members[0].Close()
		})
		defer killTimer.Stop()
	}
	var wg sync.WaitGroup
	for _, ld := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// t0 is when the transaction is due: at an offered rate, a
				// late start (no sender was free) counts in its finality.
				t0 := time.Now()
				if pace != nil {
					t0 = pace.slot()
				}
				if !t0.Before(deadline) || !sleepUntil(ctx, t0) {
					return
				}
				tx := ld.next()
				r, err := c.Submit(ctx, tx)
				lat := time.Since(t0)
				mu.Lock()
				res.Submitted++
				if err != nil || r.Err != "" {
					if res.Failed == 0 {
						log.Warn("bench: first failed transaction", "err", err, "receipt", r.Err)
					}
					res.Failed++
					if err == nil {
						ld.unuse(tx) // rejected: the nonce was not used
					}
				} else {
					res.Committed++
					latencies = append(latencies, lat)
					if now := time.Now(); !killedAt.IsZero() && firstAfterKill.IsZero() && t0.After(killedAt) {
						firstAfterKill = now
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if res.Committed > 0 {
		res.CPUUsPerTx = float64((processCPU() - cpuStart).Microseconds()) / float64(res.Committed)
		res.AllocKBPerTx = float64(heapAllocated()-allocStart) / 1024 / float64(res.Committed)
	}
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	res.Phases = rec.phases()
	loads = nil // what is left of the signed load is not the replicas' memory
	res.TPS = float64(res.Committed) / elapsed.Seconds()
	for _, m := range members {
		st := m.Status()
		log.Info("bench: replica", "id", st.ID, "view", st.View, "batches", st.Metrics.BatchesExecuted,
			"requests", st.Metrics.RequestsExecuted, "tentative", st.Metrics.BatchesTentative, "rollbacks", st.Metrics.Rollbacks, "duplicates", st.Metrics.DuplicateRequests, "saves", st.Saves, "save_time", st.SaveTime,
			"view_changes", st.Metrics.ViewChanges, "signature_checks", m.app.SignatureChecks(), "client_requests", m.rt.TransportMetrics().ClientRequests)
	}
	if len(members) > 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		res.HeapMBPerReplica = float64(ms.HeapInuse) / float64(len(members)) / (1 << 20)
		res.RSSMB = rssMB()
	}
	if !firstAfterKill.IsZero() {
		res.PrimaryKilledToCommitMs = float64(firstAfterKill.Sub(killedAt).Microseconds()) / 1000
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		ms := func(q float64) float64 { return float64(latencies[min(n-1, int(q*float64(n)))].Microseconds()) / 1000 }
		res.FinalityMsP50, res.FinalityMsP99 = ms(0.50), ms(0.99)
	}
	return res, nil
}

// benchShard returns the shard to load: the running one of cfg.Genesis, or
// a new in-process one whose genesis funds the senders.
func benchShard(cfg BenchConfig, senders []ed25519.PrivateKey, im transport.Impairment, rec *phaseRecorder, log *slog.Logger) (Genesis, []*Member, func(), error) {
	if cfg.Genesis != "" {
		g, err := LoadGenesis(cfg.Genesis)
		return g, nil, func() {}, err
	}
	n := cfg.Replicas
	if n == 0 {
		n = 4
	}
	dir, err := os.MkdirTemp("", "x402-bench-shard-")
	if err != nil {
		return Genesis{}, nil, nil, err
	}
	issuer, err := keys.Generate()
	if err != nil {
		return Genesis{}, nil, nil, err
	}
	lg := ledger.Genesis{Chain: "x402-bench", FeePPM: 10, FeeAccount: pay.AccountOf(issuer.Public().(ed25519.PublicKey)),
		Issuer: pay.AccountOf(issuer.Public().(ed25519.PublicKey)), MinChallenge: time.Second, MaxChallenge: time.Hour}
	for _, k := range senders {
		lg.Allocations = append(lg.Allocations, ledger.Allocation{Account: pay.AccountOf(k.Public().(ed25519.PublicKey)), Asset: pay.USD, Amount: pay.Nano})
	}
	res, err := Init(filepath.Join(dir, "shard"), n, lg, 0)
	if err != nil {
		os.RemoveAll(dir)
		return Genesis{}, nil, nil, err
	}
	var members []*Member
	stop := func() {
		for _, m := range members {
			m.Close()
		}
		os.RemoveAll(dir)
	}
	for _, r := range res.Replicas {
		rc, err := LoadReplicaConfig(r.Config)
		if err == nil {
			var m *Member
			if m, err = StartReplica(rc, log, WithImpairment(im), WithBatchTimes(rec.add)); err == nil {
				members = append(members, m)
				continue
			}
		}
		stop()
		return Genesis{}, nil, nil, err
	}
	g, err := LoadGenesis(res.Genesis)
	if err != nil {
		stop()
		return Genesis{}, nil, nil, err
	}
	return g, members, stop, nil
}

// rssMB is this process's resident set in MiB (0 where /proc is missing).
// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapAllocated is how many bytes the process has allocated on the heap.
func heapAllocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
