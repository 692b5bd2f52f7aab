package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/proxy/egress"
)

// spliceChildEnv makes the test binary run as a standalone SOCKS5 proxy
// process (see runSpliceChild), so its kernel I/O counters can be read.
const spliceChildEnv = "X402_TEST_SPLICE_CHILD_ALLOW"

// TestRelayUsesSplice relays 96 MiB through a proxy running in its own
// process and reads that process's /proc/PID/io: read(2)/write(2) count
// every byte that passes through user space in rchar/wchar, splice(2) does
// not. A relay that copied through a buffer would show at least 96 MiB.
func TestRelayUsesSplice(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Fatalf("/proc/self/io unavailable (Linux with task I/O accounting required): %v", err)
	}
	target := newSinkSourceTarget(t, "tcp", "127.0.0.1:0")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), spliceChildEnv+"="+target.addr())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child proxy did not report its address: %v", err)
	}
	socksAddr := strings.TrimSpace(line)

	before := procIO(t, cmd.Process.Pid)
	const up, down = 32 << 20, 64 << 20
	res := socksConnect(t, socksAddr, testUser, testPassword, target.addr(), nil)
	if res.reply != 0 {
		t.Fatalf("connect through child proxy: %v", res)
	}
	if got := exchange(t, res.conn, up, down); got != down {
		t.Fatalf("got %d bytes, want %d", got, down)
	}
	res.conn.Close()
	waitFor(t, "target to finish", func() bool { return target.closed.Load() == 1 })
	after := procIO(t, cmd.Process.Pid)
	rchar, wchar := after["rchar"]-before["rchar"], after["wchar"]-before["wchar"]
	t.Logf("relayed %d MiB; proxy process rchar %d, wchar %d bytes", (up+down)>>20, rchar, wchar)
	const userSpaceBudget = 1 << 20 // handshakes, logs, runtime noise
	if rchar > userSpaceBudget || wchar > userSpaceBudget {
		t.Fatalf("proxy read %d and wrote %d bytes through user space for %d relayed: splice is not used", rchar, wchar, up+down)
	}
}

func procIO(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, l := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if ok {
			out[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

// runSpliceChild serves SOCKS5 on loopback until stdin closes.
func runSpliceChild(allow string) int {
	auth, _ := NewStaticAuth([]StaticBuyer{{Buyer: testBuyer, User: testUser, Password: testPassword}})
	pol, err := egress.New(egress.Config{DefaultDeny: true, Allow: []string{allow}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := New(Config{Auth: auth, Egress: &egress.Dialer{Policy: pol}, Meter: meter.New()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go p.ServeSOCKS5(l)
	fmt.Println(l.Addr().String())
	os.Stdin.Read(make([]byte, 1)) // until the parent closes stdin
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.Shutdown(ctx)
	return 0
}
