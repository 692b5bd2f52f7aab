package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

// parseSize reads "1GiB", "64MiB", "512KiB" or a plain byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive byte count like 1GiB or 64MiB", s)
	}
	return n * mult, nil
}

func csvSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("proxybench", flag.ContinueOnError)
	size := fs.String("size", "1GiB", "bytes per bulk download (KiB, MiB, GiB suffixes)")
	quick := fs.Bool("quick", false, "smoke run: 64 MiB downloads, 200 requests, 100 idle tunnels, short metering benchmark")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of Markdown")
	requests := fs.Int("requests", 20000, "HTTP requests per round")
	clients := fs.Int("clients", 32, "concurrent keep-alive HTTP clients")
	body := fs.Int("body", 1024, "HTTP response body bytes")
	idle := fs.Int("idle", 1000, "idle SOCKS5 tunnels")
	rounds := fs.Int("rounds", 3, "rounds per proxy (the median is reported)")
	only := fs.String("only", "bulk,http,idle,metering", "scenarios to run")
	proxies := fs.String("proxies", "dante,microsocks,tinyproxy", "proxies to compare with (x402 and direct always run)")
	goCmd := fs.String("go", "go", "go command (builds x402, runs BenchmarkRelay)")
	x402Bin := fs.String("x402", "", "prebuilt x402 binary (default: build ./cmd/x402)")
	render := fs.String("render", "", "print the Markdown of a result saved with --json, and run nothing")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := options{requests: *requests, clients: *clients, body: *body, idle: *idle, rounds: *rounds,
		quick: *quick, jsonOut: *asJSON, render: *render, only: csvSet(*only), proxies: csvSet(*proxies), goCmd: *goCmd, x402Bin: *x402Bin}
	var err error
	if o.size, err = parseSize(*size); err != nil {
		return o, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["size"] {
			o.size = 64 << 20
		}
		if !set["requests"] {
			o.requests = 200
		}
		if !set["idle"] {
			o.idle = 100
		}
	}
	if o.requests <= 0 || o.clients <= 0 || o.body < 0 || o.idle <= 0 || o.rounds <= 0 {
		return o, fmt.Errorf("--requests, --clients, --idle and --rounds must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	opts, err := parseOptions(args)
	if err != nil {
		return err
	}
	if opts.render != "" {
		return renderSaved(opts.render, stdout)
	}
	b := &bench{opts: opts}
	defer b.teardown()
	if err := b.setup(); err != nil {
		return err
	}
	res := newResult(b)
	started := time.Now()
	has := func(name string) bool { return b.opts.proxies[name] }
	if opts.only["bulk"] {
		fmt.Fprintf(os.Stderr, "proxybench: SOCKS5 bulk download of %d MiB\n", opts.size>>20)
		ts := []target{targetDirect, targetX402}
		for _, t := range []target{targetDante, targetMicrosocks} {
			if has(t.name) {
				ts = append(ts, t)
			}
		}
		s, err := runRounds(ctx, b, ts, b.bulkRun)
		if err != nil {
			return err
		}
		res.addBulk(ts, s)
	}
	if opts.only["http"] {
		fmt.Fprintf(os.Stderr, "proxybench: HTTP small requests (%d x %d B, %d clients)\n", opts.requests, opts.body, opts.clients)
		ts := []target{targetDirect, targetX402}
		if has(targetTinyproxy.name) {
			ts = append(ts, targetTinyproxy)
		}
		s, err := runRounds(ctx, b, ts, b.httpRun)
		if err != nil {
			return err
		}
		res.addHTTP(ts, s)
	}
	if opts.only["idle"] {
		fmt.Fprintf(os.Stderr, "proxybench: %d idle SOCKS5 tunnels\n", opts.idle)
		ts := []target{targetX402}
		for _, t := range []target{targetDante, targetMicrosocks} {
			if has(t.name) {
				ts = append(ts, t)
			}
		}
		s, err := runRounds(ctx, b, ts, b.idleRun)
		if err != nil {
			return err
		}
		res.addIdle(ts, s)
	}
	if opts.only["metering"] {
		fmt.Fprintln(os.Stderr, "proxybench: BenchmarkRelay (metering cost)")
		m := b.runMetering(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.Metering = &m
	}
	res.Notes = append(res.Notes, b.notes...)
	res.finish(time.Since(started))
	if opts.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.markdown(stdout)
	return nil
}

// renderSaved prints the Markdown of a result saved with --json.
func renderSaved(path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	res.markdown(stdout)
	return nil
}
