package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// options are the command line's settings.
type options struct {
	size     int64 // bulk download bytes
	requests int   // HTTP requests per round
	clients  int   // concurrent HTTP clients
	body     int   // HTTP response body bytes
	idle     int   // idle tunnels
	rounds   int
	quick    bool
	jsonOut  bool
	only     map[string]bool // scenarios: bulk, http, idle, metering
	proxies  map[string]bool // targets to run (x402 and direct always run)
	goCmd    string
	x402Bin  string // prebuilt binary; "" builds ./cmd/x402
	render   string // a saved --json result to print as Markdown
}

// bench is one run's shared state.
type bench struct {
	opts       options
	root       string // module root
	dir        string // temp dir, removed at the end
	x402       string
	org        *origins
	user, pass string
	dante      danteAuth
	bin        map[string]string // target name -> binary path
	notes      []string
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot is the directory of the go.mod this command runs in.
func moduleRoot(goCmd string) (string, error) {
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run from the x402 repository")
	}
	return filepath.Dir(mod), nil
}

// setup creates the temp dir, builds x402, finds the other proxies and
// starts the origins. The caller runs teardown even when setup fails.
func (b *bench) setup() error {
	var err error
	if b.root, err = moduleRoot(b.opts.goCmd); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "proxybench-"); err != nil {
		return err
	}
	// dante's and tinyproxy's unprivileged processes enter their own
	// subdirectories; nothing here is listable by others.
	if err := os.Chmod(b.dir, 0o711); err != nil {
		return err
	}
	b.user, b.pass = "bench", randomHex(12)
	b.x402 = b.opts.x402Bin
	if b.x402 == "" {
		b.x402 = filepath.Join(b.dir, "x402-bin")
		cmd := exec.Command(b.opts.goCmd, "build", "-o", b.x402, "./cmd/x402")
		cmd.Dir = b.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build x402: %v: %s", err, out)
		}
	}
	b.bin = map[string]string{}
	for _, t := range []target{targetDante, targetMicrosocks, targetTinyproxy} {
		if !b.opts.proxies[t.name] {
			continue
		}
		if p, err := findTool(t.binary, t.pkg); err == nil {
			b.bin[t.name] = p
		} else {
			b.notes = append(b.notes, err.Error())
		}
	}
	if b.bin[targetDante.name] != "" {
		b.dante = setupDanteUser(randomHex(12))
		b.notes = append(b.notes, b.dante.note)
	}
	b.org, err = startOrigins(b.opts.body)
	return err
}

// teardown stops everything this run started and removes its files.
func (b *bench) teardown() {
	stopAll()
	if b.org != nil {
		b.org.close()
	}
	b.dante.cleanup()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// findTool finds binary, installing Debian package pkg when running as
// root (as `make test` does for the tests' system components).
func findTool(binary, pkg string) (string, error) {
	if p, err := exec.LookPath(binary); err == nil {
		return p, nil
	}
	if os.Geteuid() == 0 {
		fmt.Fprintf(os.Stderr, "proxybench: installing %s\n", pkg)
		out, err := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput()
		if err == nil {
			if p, err := exec.LookPath(binary); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s not installed (apt-get install %s: %v: %s)", binary, pkg, err, tail(string(out), 200))
	}
	return "", fmt.Errorf("%s not installed: apt-get install %s (as root) to compare with it", binary, pkg)
}

// start runs t's server, or reports why it cannot.
func (b *bench) start(ctx context.Context, t target) (*server, error) {
	if t.binary != "" && b.bin[t.name] == "" {
		return nil, fmt.Errorf("%s not installed (Debian package %s)", t.binary, t.pkg)
	}
	return t.startFn(ctx, b)
}

// series is one target's rounds of one scenario, or why it has none.
type series[R any] struct {
	Rounds []R
	Err    string
}

// runRounds runs every target alone, round-robin, b.opts.rounds times: a
// fresh server per round, measured by run, stopped before the next.
func runRounds[R any](ctx context.Context, b *bench, targets []target, run func(context.Context, *server) (R, error)) (map[string]*series[R], error) {
	out := map[string]*series[R]{}
	for _, t := range targets {
		out[t.name] = &series[R]{}
	}
	for round := range b.opts.rounds {
		for _, t := range targets {
			s := out[t.name]
			if s.Err != "" {
				continue
			}
			fmt.Fprintf(os.Stderr, "proxybench:   %s round %d/%d\n", t.name, round+1, b.opts.rounds)
			srv, err := b.start(ctx, t)
			if err == nil {
				var r R
				r, err = run(ctx, srv)
				srv.stop()
				if err == nil {
					s.Rounds = append(s.Rounds, r)
				}
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				s.Err = err.Error()
			}
		}
	}
	return out, nil
}
