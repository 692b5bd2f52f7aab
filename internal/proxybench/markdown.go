package main

import (
	"fmt"
	"io"
	"strings"
)

func roundsList[R any](rs []R, f func(R) float64, format string) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf(format, f(r))
	}
	return strings.Join(parts, ", ")
}

// ratio formats a/b, or "—" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func orErr(err string, s string) string {
	if err != "" {
		return "error: " + strings.NewReplacer("|", "/", "\n", " ").Replace(err)
	}
	return s
}

// markdown writes r as Markdown tables.
func (r *result) markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "# x402 proxy benchmark, %s\n\n", r.Date)
	fmt.Fprintf(w, "%d × %s, Linux %s, %s", m.NProc, m.CPU, m.Kernel, m.Go)
	for _, p := range []string{"dante-server", "microsocks", "tinyproxy"} {
		if v := m.Packages[p]; v != "" {
			fmt.Fprintf(w, ", %s %s", p, v)
		}
	}
	s := r.Settings
	fmt.Fprintf(w, ". Median of %d rounds; each proxy ran alone. Took %.0f s.\n\n", s.Rounds, r.Seconds)
	if len(r.Bulk) > 0 {
		r.bulkTable(w)
	}
	if len(r.HTTP) > 0 {
		r.httpTable(w)
	}
	if len(r.Idle) > 0 {
		r.idleTable(w)
	}
	if r.Metering != nil {
		r.meteringTable(w)
	}
	fmt.Fprintf(w, "## Targets\n\n| target | required | measured | |\n|---|---|---|---|\n")
	for _, c := range r.Targets {
		req, val := fmt.Sprintf("≥ %.2fx", c.Limit), fmt.Sprintf("%.2fx (%s)", c.Value, c.Detail)
		if strings.Contains(c.Name, "CPU") {
			req = fmt.Sprintf("≤ %.2fx", c.Limit)
		}
		if strings.Contains(c.Name, "RSS") {
			req, val = fmt.Sprintf("≤ %.0f MB", c.Limit), c.Detail
		}
		verdict := "met"
		if !c.Met {
			verdict = "**missed**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.Name, req, val, verdict)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func (r *result) bulkTable(w io.Writer) {
	var x402 float64
	for _, b := range r.Bulk {
		if b.Target == "x402" {
			x402 = b.MiBps
		}
	}
	fmt.Fprintf(w, "## SOCKS5 bulk download, %d MiB, one connection\n\n", r.Settings.BulkBytes>>20)
	fmt.Fprintf(w, "| via | MiB/s (median) | rounds | proxy CPU s/GiB | client+origin CPU s/GiB | x402 ÷ this |\n|---|---:|---|---:|---:|---:|\n")
	for _, b := range r.Bulk {
		cpu := "—"
		if b.Target != "direct" && len(b.Rounds) > 0 {
			cpu = fmt.Sprintf("%.3f", b.CPUSecPerGiB)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.3f | %s |\n", b.Target, orErr(b.Error, fmt.Sprintf("%.0f", b.MiBps)),
			roundsList(b.Rounds, func(x bulkRound) float64 { return x.MiBps }, "%.0f"), cpu, b.SelfPerGiB, ratio(x402, b.MiBps))
	}
	fmt.Fprintln(w)
}

func (r *result) httpTable(w io.Writer) {
	var x402 float64
	for _, h := range r.HTTP {
		if h.Target == "x402" {
			x402 = h.RPS
		}
	}
	s := r.Settings
	fmt.Fprintf(w, "## HTTP proxy, %d GETs of %d B, %d keep-alive clients\n\n", s.Requests, s.BodyBytes, s.Clients)
	fmt.Fprintf(w, "| via | req/s (median) | rounds | proxy CPU µs/req | new conns client→proxy / →origin (last round) | x402 ÷ this |\n|---|---:|---|---:|---|---:|\n")
	for _, h := range r.HTTP {
		cpu, conns := "—", "—"
		if n := len(h.Rounds); n > 0 {
			last := h.Rounds[n-1]
			conns = fmt.Sprintf("%d / %d", last.ClientConns, last.OriginConns)
			if h.Target != "direct" {
				cpu = fmt.Sprintf("%.0f", h.CPUMicrosReq)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", h.Target, orErr(h.Error, fmt.Sprintf("%.0f", h.RPS)),
			roundsList(h.Rounds, func(x httpRound) float64 { return x.RPS }, "%.0f"), cpu, conns, ratio(x402, h.RPS))
	}
	fmt.Fprintln(w)
}

func (r *result) idleTable(w io.Writer) {
	fmt.Fprintf(w, "## %d idle authenticated SOCKS5 tunnels\n\n", r.Settings.IdleTunnels)
	fmt.Fprintf(w, "| proxy | RSS before | RSS with tunnels | PSS with tunnels | processes |\n|---|---:|---:|---:|---:|\n")
	mb := func(kib float64) string { return fmt.Sprintf("%.1f MB", kib*1024/1e6) }
	for _, i := range r.Idle {
		if i.Error != "" || len(i.Rounds) == 0 {
			fmt.Fprintf(w, "| %s | %s | | | |\n", i.Target, orErr(i.Error, "no rounds"))
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d |\n", i.Target, mb(i.BeforeKiB), mb(i.WithKiB), mb(i.WithPSS), i.Procs)
	}
	fmt.Fprintln(w, "\nRSS sums VmRSS over the proxy's processes (shared pages count once per process); PSS divides shared pages. MB = 10^6 bytes.")
	fmt.Fprintln(w)
}

func (r *result) meteringTable(w io.Writer) {
	m := r.Metering
	fmt.Fprintf(w, "## Metering cost (BenchmarkRelay, spliced relay on loopback)\n\n`%s`\n\n", m.Command)
	if m.Error != "" {
		fmt.Fprintf(w, "error: %s\n\n", m.Error)
		return
	}
	fmt.Fprintf(w, "| relay | MB/s (median) | ÷ metering=off |\n|---|---:|---:|\n")
	for _, n := range m.Names {
		fmt.Fprintf(w, "| %s | %.0f | %.2fx |\n", n, m.MBps[n], m.Ratio[n])
	}
	fmt.Fprintln(w)
}
