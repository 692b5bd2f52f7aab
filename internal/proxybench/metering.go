package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// meteringResult is BenchmarkRelay of package proxy: the spliced relay's
// loopback throughput with metering off and on (per chunk size).
type meteringResult struct {
	Command string             `json:"command"`
	Names   []string           `json:"names"`    // sub-benchmarks in the order go test ran them
	MBps    map[string]float64 `json:"mb_per_s"` // median per sub-benchmark (MB = 10^6 bytes, as go test prints)
	Ratio   map[string]float64 `json:"ratio_vs_off"`
	Error   string             `json:"error,omitempty"`
}

// meteringOff is the sub-benchmark the others are compared with.
const meteringOff = "metering=off"

var benchLine = regexp.MustCompile(`^BenchmarkRelay/(\S+?)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) MB/s`)

// parseRelayBench collects the MB/s of every BenchmarkRelay line by
// sub-benchmark name, and the names in order of first appearance.
func parseRelayBench(out string) (map[string][]float64, []string) {
	res := map[string][]float64{}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		if _, seen := res[m[1]]; !seen {
			names = append(names, m[1])
		}
		res[m[1]] = append(res[m[1]], v)
	}
	return res, names
}

// runMetering runs BenchmarkRelay in the module root.
func (b *bench) runMetering(ctx context.Context) meteringResult {
	args := []string{"test", "-run", "^$", "-bench", "BenchmarkRelay", "-count", strconv.Itoa(b.opts.rounds)}
	if b.opts.quick {
		args = append(args, "-benchtime", "8x")
	}
	args = append(args, "./proxy/")
	r := meteringResult{Command: b.opts.goCmd + " " + strings.Join(args, " "), MBps: map[string]float64{}, Ratio: map[string]float64{}}
	cmd := exec.CommandContext(ctx, b.opts.goCmd, args...)
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.Error = fmt.Sprintf("%v: %s", err, tail(string(out), 600))
		return r
	}
	all, names := parseRelayBench(string(out))
	for name, vs := range all {
		r.MBps[name] = median(vs)
	}
	r.Names = names
	off := r.MBps[meteringOff]
	if off == 0 {
		r.Error = "no " + meteringOff + " result in: " + tail(string(out), 600)
		return r
	}
	for name, v := range r.MBps {
		r.Ratio[name] = v / off
	}
	return r
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// median of vs (0 for none); vs is not modified.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
