package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// result is everything one run measured.
type result struct {
	Date     string          `json:"date"`
	Machine  machine         `json:"machine"`
	Settings settings        `json:"settings"`
	Bulk     []bulkResult    `json:"bulk,omitempty"`
	HTTP     []httpResult    `json:"http,omitempty"`
	Idle     []idleResult    `json:"idle,omitempty"`
	Metering *meteringResult `json:"metering,omitempty"`
	Targets  []check         `json:"targets"`
	Notes    []string        `json:"notes,omitempty"`
	Seconds  float64         `json:"seconds"`
}

type machine struct {
	NProc    int               `json:"nproc"`
	CPU      string            `json:"cpu"`
	Kernel   string            `json:"kernel"`
	Go       string            `json:"go"`
	Packages map[string]string `json:"packages"` // Debian package -> version
}

type settings struct {
	BulkBytes    int64  `json:"bulk_bytes"`
	Requests     int    `json:"http_requests"`
	Clients      int    `json:"http_clients"`
	BodyBytes    int    `json:"http_body_bytes"`
	IdleTunnels  int    `json:"idle_tunnels"`
	Rounds       int    `json:"rounds"`
	DanteAuth    bool   `json:"dante_auth"`
	X402LogLevel string `json:"x402_log_level"`
}

type bulkResult struct {
	Target       string      `json:"target"`
	Rounds       []bulkRound `json:"rounds"`
	MiBps        float64     `json:"median_mib_per_s"`
	CPUSecPerGiB float64     `json:"median_proxy_cpu_s_per_gib"` // 0 for direct
	SelfPerGiB   float64     `json:"median_client_origin_cpu_s_per_gib"`
	Error        string      `json:"error,omitempty"`
}

type httpResult struct {
	Target       string      `json:"target"`
	Rounds       []httpRound `json:"rounds"`
	RPS          float64     `json:"median_requests_per_s"`
	CPUMicrosReq float64     `json:"median_proxy_cpu_us_per_request"`
	Error        string      `json:"error,omitempty"`
}

type idleResult struct {
	Target    string      `json:"target"`
	Rounds    []idleRound `json:"rounds"`
	BeforeKiB float64     `json:"median_rss_before_kib"`
	WithKiB   float64     `json:"median_rss_with_kib"`
	WithPSS   float64     `json:"median_pss_with_kib"`
	Procs     int         `json:"procs_with"`
	Error     string      `json:"error,omitempty"`
}

// check is one of the targets.
type check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail"`
}

func newResult(b *bench) *result {
	return &result{
		Date: time.Now().Format("2006-01-02"),
		Machine: machine{
			NProc:    runtime.NumCPU(),
			CPU:      cpuModel(),
			Kernel:   strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
			Go:       runtime.Version(),
			Packages: packageVersions("dante-server", "microsocks", "tinyproxy"),
		},
		Settings: settings{BulkBytes: b.opts.size, Requests: b.opts.requests, Clients: b.opts.clients, BodyBytes: b.opts.body,
			IdleTunnels: b.opts.idle, Rounds: b.opts.rounds, DanteAuth: b.dante.auth, X402LogLevel: "warn"},
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func packageVersions(pkgs ...string) map[string]string {
	out := map[string]string{}
	for _, p := range pkgs {
		v, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", p).Output()
		if err == nil && len(v) > 0 {
			out[p] = string(v)
		}
	}
	return out
}

func medianOf[R any](rs []R, f func(R) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	return median(vs)
}

func (r *result) addBulk(ts []target, s map[string]*series[bulkRound]) {
	for _, t := range ts {
		x := s[t.name]
		br := bulkResult{Target: t.name, Rounds: x.Rounds, Error: x.Err}
		br.MiBps = medianOf(x.Rounds, func(b bulkRound) float64 { return b.MiBps })
		gibs := float64(r.Settings.BulkBytes) / gib
		br.CPUSecPerGiB = medianOf(x.Rounds, func(b bulkRound) float64 { return b.CPUSeconds / gibs })
		br.SelfPerGiB = medianOf(x.Rounds, func(b bulkRound) float64 { return b.SelfCPUSeconds / gibs })
		r.Bulk = append(r.Bulk, br)
	}
}

func (r *result) addHTTP(ts []target, s map[string]*series[httpRound]) {
	for _, t := range ts {
		x := s[t.name]
		hr := httpResult{Target: t.name, Rounds: x.Rounds, Error: x.Err}
		hr.RPS = medianOf(x.Rounds, func(h httpRound) float64 { return h.RPS })
		hr.CPUMicrosReq = medianOf(x.Rounds, func(h httpRound) float64 { return h.CPUMicrosReq })
		r.HTTP = append(r.HTTP, hr)
	}
}

func (r *result) addIdle(ts []target, s map[string]*series[idleRound]) {
	for _, t := range ts {
		x := s[t.name]
		ir := idleResult{Target: t.name, Rounds: x.Rounds, Error: x.Err}
		ir.BeforeKiB = medianOf(x.Rounds, func(i idleRound) float64 { return float64(i.Before.RSSKiB) })
		ir.WithKiB = medianOf(x.Rounds, func(i idleRound) float64 { return float64(i.With.RSSKiB) })
		ir.WithPSS = medianOf(x.Rounds, func(i idleRound) float64 { return float64(i.With.PSSKiB) })
		if n := len(x.Rounds); n > 0 {
			ir.Procs = x.Rounds[n-1].With.Procs
		}
		r.Idle = append(r.Idle, ir)
	}
}
