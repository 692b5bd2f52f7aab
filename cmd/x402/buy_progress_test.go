package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/pay"
)

// TestBuyShowsProgressOnATerminal runs `x402 buy` on a pseudo-terminal:
// it prints its endpoints, then rewrites one progress line (bytes relayed,
// billed, paid, rate) while curl downloads through it, and on SIGINT
// settles and prints the settlement as text.
func TestBuyShowsProgressOnATerminal(t *testing.T) {
	m := startBuyMarket(t)
	curl, env, org, seller, payments, nodeLogs, key := m.curl, m.env, m.origin, m.seller, m.payments, m.nodeLogs, m.key
	l := m.ledger

	cmd := exec.Command(x402Bin, "buy", "--seller", seller+"@"+payments, "--deposit", "1 USD",
		"--max-price", "0.50 USD", "--challenge", "1s", "--listen", "127.0.0.1:0", "--key", key, "--ledger", l.url)
	cmd.Env = env
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	text := func() string {
		mu.Lock()
		defer mu.Unlock()
		return screen.String()
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	socks := regexp.MustCompile(`socks5\s+(socks5h://\S+)`)
	testenv.Eventually(t, "the endpoints on the terminal", func() bool { return socks.MatchString(text()) })
	proxyURL := socks.FindStringSubmatch(text())[1]
	const size = 3 << 20
	body, err := exec.Command(curl, "-sS", "--fail", "--max-time", "60", "--proxy", proxyURL, fmt.Sprintf("http://%s/bytes/%d", org, size)).Output()
	if err != nil || len(body) != size {
		t.Fatalf("curl through the buyer: %d bytes, %v\nterminal: %q\nnode: %s", len(body), err, text(), nodeLogs())
	}
	// A progress line, redrawn in place, that counts the download and its money.
	progress := regexp.MustCompile(`\r\x1b\[K(\d+\.\d) MiB relayed  (\S+) USD billed  (\S+) USD paid  \S+ \S+/s`)
	testenv.Eventually(t, "a progress line with the download", func() bool {
		for _, m := range progress.FindAllStringSubmatch(text(), -1) {
			mib, _ := strconv.ParseFloat(m[1], 64)
			billed, berr := pay.ParseAmount(m[2])
			paid, perr := pay.ParseAmount(m[3])
			// Paid runs ahead of the bill by the prepayment window.
			if mib >= 3 && berr == nil && perr == nil && billed >= pay.OwedForBytes(size, pay.Nano/2) && paid > billed {
				return true
			}
		}
		return false
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("buy: %v\nterminal: %q", err, text())
	}
	tty.Close()
	<-read
	io.Copy(io.Discard, tty)
	out := text()
	for _, want := range []string{"settling channel", "bytes billed", "settled", "refund"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the terminal lacks %q after SIGINT:\n%q", want, out)
		}
	}
}
