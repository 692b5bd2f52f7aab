package main

import (
	"context"
	"syscall"
	"time"
)

const gib = 1 << 30

// bulkRound is one download of the configured size.
type bulkRound struct {
	Seconds    float64 `json:"seconds"`
	MiBps      float64 `json:"mib_per_s"`
	CPUSeconds float64 `json:"proxy_cpu_seconds"` // 0 for direct
	// SelfCPUSeconds is this harness's CPU time (origin and client).
	SelfCPUSeconds float64 `json:"client_origin_cpu_seconds"`
}

// bulkRun downloads b.opts.size bytes through s once, after a 1 MiB
// warm-up, and measures wall time and the proxy group's CPU time.
func (b *bench) bulkRun(ctx context.Context, s *server) (bulkRound, error) {
	origin := b.org.streamAddr()
	if err := s.download(ctx, origin, 1<<20); err != nil {
		return bulkRound{}, err
	}
	cpu0, err := s.cpu()
	if err != nil {
		return bulkRound{}, err
	}
	self0 := selfCPU()
	t0 := time.Now()
	if err := s.download(ctx, origin, b.opts.size); err != nil {
		return bulkRound{}, err
	}
	el := time.Since(t0)
	self1 := selfCPU()
	cpu1, err := s.cpu()
	if err != nil {
		return bulkRound{}, err
	}
	return bulkRound{
		Seconds:        el.Seconds(),
		MiBps:          float64(b.opts.size) / (1 << 20) / el.Seconds(),
		CPUSeconds:     (cpu1 - cpu0).Seconds(),
		SelfCPUSeconds: (self1 - self0).Seconds(),
	}, nil
}

// cpu is the proxy's CPU time so far (0 for direct).
func (s *server) cpu() (time.Duration, error) {
	if s.proc == nil {
		return 0, nil
	}
	if err := s.proc.check(); err != nil {
		return 0, err
	}
	return groupCPU(s.proc.pgid())
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
