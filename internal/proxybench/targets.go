package main

import (
	"fmt"
	"time"
)

// idleLimitBytes is the 40 MB for x402 with the idle tunnels open
// (MB = 10^6 bytes, the stricter reading).
const idleLimitBytes = 40e6

func find[R any](rs []R, name func(R) string, want string) (R, bool) {
	for _, r := range rs {
		if name(r) == want {
			return r, true
		}
	}
	var zero R
	return zero, false
}

// finish evaluates the targets against this run's baselines.
func (r *result) finish(el time.Duration) {
	r.Seconds = el.Seconds()
	bulk := func(name string) (bulkResult, bool) {
		b, ok := find(r.Bulk, func(b bulkResult) string { return b.Target }, name)
		return b, ok && b.Error == "" && b.MiBps > 0
	}
	if x, ok := bulk("x402"); ok {
		if d, ok := bulk("dante"); ok {
			r.ratioCheck("SOCKS5 throughput vs dante", x.MiBps/d.MiBps, 1.0, true,
				fmt.Sprintf("%.0f vs %.0f MiB/s", x.MiBps, d.MiBps))
			if d.CPUSecPerGiB > 0 {
				r.ratioCheck("proxy CPU per GiB vs dante", x.CPUSecPerGiB/d.CPUSecPerGiB, 1.0, false,
					fmt.Sprintf("%.3f vs %.3f CPU s/GiB", x.CPUSecPerGiB, d.CPUSecPerGiB))
			}
		}
		if d, ok := bulk("direct"); ok {
			r.ratioCheck("SOCKS5 throughput vs direct", x.MiBps/d.MiBps, 0.8, true,
				fmt.Sprintf("%.0f vs %.0f MiB/s", x.MiBps, d.MiBps))
		}
	}
	if x, ok := find(r.Idle, func(i idleResult) string { return i.Target }, "x402"); ok && x.Error == "" && len(x.Rounds) > 0 {
		bytes := x.WithKiB * 1024
		r.Targets = append(r.Targets, check{
			Name: fmt.Sprintf("x402 RSS with %d idle tunnels", r.Settings.IdleTunnels), Value: bytes / 1e6, Limit: idleLimitBytes / 1e6,
			Met:    bytes <= idleLimitBytes,
			Detail: fmt.Sprintf("%.1f MB (%.1f MiB) VmRSS, %.1f MB before", bytes/1e6, x.WithKiB/1024, x.BeforeKiB*1024/1e6),
		})
	}
}

// ratioCheck records value against limit: at least limit when atLeast,
// else at most.
func (r *result) ratioCheck(name string, value, limit float64, atLeast bool, detail string) {
	met := value <= limit
	if atLeast {
		met = value >= limit
	}
	r.Targets = append(r.Targets, check{Name: name, Value: value, Limit: limit, Met: met, Detail: detail})
}
