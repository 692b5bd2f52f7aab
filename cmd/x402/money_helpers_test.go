package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/x402/x402/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// cliResult is one finished x402 process.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cleanEnv is the test process's environment without anything that would
// point x402 at the tester's own wallet or ledger, plus extra.
func cleanEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "X402_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"HOME=" + t.TempDir()}, extra...)...)
}

// envValue is the value of name in env.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == name {
			v = val
		}
	}
	return v
}

// cli runs x402 with args in env and returns what it printed and its exit
// status (0, 1 or 2; any other failure fails the test).
func cli(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(x402Bin, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("x402 %v: %v", args, err)
	}
	return r
}

// mustCLI runs x402 and fails the test unless it exits 0.
func mustCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := cli(t, env, args...)
	if r.code != 0 {
		t.Fatalf("x402 %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustJSON runs x402 and decodes its stdout into v.
func mustJSON(t *testing.T, v any, env []string, args ...string) {
	t.Helper()
	out := mustCLI(t, env, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("x402 %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// proc is a long-running x402 process whose stdout is read line by line.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
}

// startProc starts x402 args; the test's cleanup SIGTERMs it if it still runs.
func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(x402Bin, args...), lines: make(chan string, 64), stderr: &syncBuffer{}}
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGCONT) // a test that failed while the process was stopped (SIGSTOP)
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	})
	return p
}

// line waits for the next stdout line.
func (p *proc) line(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.cmd.Wait()
			t.Fatalf("%v exited before printing a line (%v)\nstderr: %s", p.cmd.Args, p.cmd.ProcessState, p.stderr.String())
		}
		return l
	case <-time.After(within):
		t.Fatalf("%v printed no line within %v\nstderr: %s", p.cmd.Args, within, p.stderr.String())
	}
	return ""
}

// waitForText polls the process's stderr until it contains text.
func waitForText(t *testing.T, p *proc, text string, within time.Duration) {
	t.Helper()
	_ = within // testenv.Eventually's deadline bounds the wait
	testenv.Eventually(t, fmt.Sprintf("%v to log %q", p.cmd.Args, text), func() bool { return strings.Contains(p.stderr.String(), text) })
}

// stop sends sig and waits for a clean exit.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%v did not exit cleanly on %v: %v\nstderr: %s", p.cmd.Args, sig, err, p.stderr.String())
	}
}

// testLedger is a development ledger served by a real `x402 ledger serve`.
type testLedger struct {
	url  string
	dir  string
	init ledgerInitJSON
	proc *proc
}

// startLedger runs `x402 ledger init` with initArgs, then `x402 ledger
// serve` on a free loopback port, and waits until it serves.
func startLedger(t *testing.T, env []string, initArgs ...string) *testLedger {
	t.Helper()
	l := &testLedger{dir: filepath.Join(t.TempDir(), "ledger")}
	mustJSON(t, &l.init, env, append([]string{"ledger", "init", "--dir", l.dir, "--json"}, initArgs...)...)
	l.proc = startProc(t, env, "ledger", "serve", "--genesis", l.init.Genesis, "--dir", l.dir, "--listen", "127.0.0.1:0")
	line := l.proc.line(t, 20*time.Second)
	var ok bool
	if l.url, ok = strings.CutPrefix(line, "ledger serving on "); !ok {
		t.Fatalf("ledger serve printed %q, want \"ledger serving on URL\"", line)
	}
	return l
}

// startByteOrigin serves GET /bytes/N (N bytes) on loopback.
func startByteOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || n > 1<<30 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// balanceOf reads an account's balance of asset in nano-units.
func balanceOf(t *testing.T, env []string, ledgerURL, account, asset string) uint64 {
	t.Helper()
	var b balanceJSON
	mustJSON(t, &b, env, "wallet", "balance", "--account", account, "--ledger", ledgerURL, "--json")
	return b.BalancesNano[pay.Asset(asset)]
}
