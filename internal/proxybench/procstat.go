package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

// procStat is what this harness reads from /proc/PID/stat.
type procStat struct {
	pgrp int
	// cpu is utime+stime of the process plus cutime+cstime of its reaped
	// children, so a group's sum stays continuous when a child exits.
	cpu time.Duration
}

// parseStat parses the contents of /proc/PID/stat.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat: %d fields", len(f))
	}
	pgrp, err := strconv.Atoi(f[5-3])
	if err != nil {
		return procStat{}, fmt.Errorf("stat pgrp: %w", err)
	}
	var ticks int64
	for n := 14; n <= 17; n++ {
		v, err := strconv.ParseInt(f[n-3], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("stat field %d: %w", n, err)
		}
		ticks += v
	}
	return procStat{pgrp: pgrp, cpu: time.Duration(ticks) * clockTick}, nil
}

// groupPids lists the live processes of process group pg.
func groupPids(pg int) []int {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		st, err := parseStat(b)
		if err != nil || st.pgrp != pg {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		out = append(out, pid)
	}
	return out
}

// groupCPU is the CPU time (user+system) used so far by process group pg.
func groupCPU(pg int) (time.Duration, error) {
	var sum time.Duration
	pids := groupPids(pg)
	if len(pids) == 0 {
		return 0, fmt.Errorf("process group %d has no processes", pg)
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if st, err := parseStat(b); err == nil {
			sum += st.cpu
		}
	}
	return sum, nil
}

// memory is a process group's resident memory.
type memory struct {
	RSSKiB int64 `json:"rss_kib"` // sum of VmRSS (shared pages counted per process)
	PSSKiB int64 `json:"pss_kib"` // sum of Pss (shared pages divided)
	Procs  int   `json:"procs"`
}

// groupMemory sums VmRSS and Pss over process group pg.
func groupMemory(pg int) (memory, error) {
	var m memory
	for _, pid := range groupPids(pg) {
		rss, err := kibField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		if err != nil {
			continue
		}
		pss, _ := kibField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
		m.RSSKiB += rss
		m.PSSKiB += pss
		m.Procs++
	}
	if m.Procs == 0 {
		return m, fmt.Errorf("process group %d has no processes", pg)
	}
	return m, nil
}

// kibField reads a "Name:   123 kB" line of a /proc file.
func kibField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseKiBField(bufio.NewScanner(f), name)
}

func parseKiBField(sc *bufio.Scanner, name string) (int64, error) {
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, name))
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s line", name)
}
