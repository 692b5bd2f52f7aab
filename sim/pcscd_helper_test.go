//go:build cgo

package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/x402/x402/internal/ports"
	"github.com/x402/x402/sim/internal/vicc"
)

// Files of Debian's pcscd and vsmartcard-vpcd packages.
const (
	vpcdConf   = "/etc/reader.conf.d/vpcd"
	vpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	// vpcdReader0 is the name pcscd gives vpcd's first slot.
	vpcdReader0 = "Virtual PCD 00 00"
	// vpcdReader1 is vpcd's second slot, listening on the next port.
	vpcdReader1 = "Virtual PCD 00 01"
)

// pcscdBinary returns pcscd's path, or "" when it is not installed.
func pcscdBinary() string {
	if p, err := exec.LookPath("pcscd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/pcscd", "/sbin/pcscd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// missingComponents names what of pcscd and vpcd is not installed.
func missingComponents() []string {
	var missing []string
	if pcscdBinary() == "" {
		missing = append(missing, "pcscd")
	}
	for _, f := range []string{vpcdConf, vpcdDriver} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, "vsmartcard-vpcd ("+f+")")
		}
	}
	return missing
}

// requirePCSCStack installs pcscd and vpcd when missing and running as
// root; otherwise it fails under CI and skips, naming what is missing,
// elsewhere.
func requirePCSCStack(t *testing.T) {
	t.Helper()
	missing := missingComponents()
	if len(missing) == 0 {
		return
	}
	if os.Geteuid() == 0 {
		cmd := exec.Command("apt-get", "install", "-y", "pcscd", "vsmartcard-vpcd", "libpcsclite-dev")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install pcscd/vpcd (missing %v): %v\n%s", missing, err, out)
		}
		if missing = missingComponents(); len(missing) == 0 {
			return
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PC/SC test stack missing: %s", strings.Join(missing, ", "))
	}
	t.Skipf("PC/SC test stack missing: %s", strings.Join(missing, ", "))
}

// vpcdPort reads vpcd's first TCP port from its system reader.conf entry
// (DEVICENAME /dev/null:0xPORT), for a pcscd the tests did not start.
func vpcdPort(t *testing.T) int {
	t.Helper()
	f, err := os.Open(vpcdConf)
	if err != nil {
		t.Fatalf("vpcd config: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "DEVICENAME" {
			_, port, ok := strings.Cut(fields[1], ":")
			if !ok {
				break
			}
			p, err := strconv.ParseInt(port, 0, 32)
			if err != nil {
				t.Fatalf("vpcd config: DEVICENAME %q: %v", fields[1], err)
			}
			return int(p)
		}
	}
	return 0x8C7B
}

// syncBuffer is a bytes.Buffer safe for pcscd's output goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startPCSCD makes sure a pcscd with vpcd's readers is running and returns
// the TCP port of vpcd's first slot (the second listens on the next). It
// reuses a running daemon (vpcd's ports then are those of its system
// configuration) or starts its own, stopped in t.Cleanup, whose vpcd
// listens on ports below the kernel's ephemeral range: Debian's default
// ports lie inside it, and when any connection of the tests running beside
// this one happened to hold one of them as its local port, vpcd could not
// listen and pcscd listed no reader. It returns once both readers are
// listed.
func startPCSCD(t *testing.T) int {
	t.Helper()
	requirePCSCStack(t)
	if sc, err := scard.EstablishContext(); err == nil {
		sc.Release()
		t.Log("reusing the running pcscd")
		waitUntil(t, pcscdReady, "vpcd readers listed", vpcdReadersListed)
		return vpcdPort(t)
	}
	port, err := ports.FreeRun("tcp", 2)
	if err != nil {
		t.Fatalf("ports for vpcd: %v", err)
	}
	confDir := t.TempDir()
	conf := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n", port, vpcdDriver, port)
	if err := os.WriteFile(filepath.Join(confDir, "vpcd"), []byte(conf), 0o600); err != nil {
		t.Fatalf("vpcd config: %v", err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(pcscdBinary(), "--foreground", "--config", confDir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pcscd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Logf("stop pcscd: %v", err)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("pcscd did not stop on SIGTERM\n%s", out)
		}
	})
	waitUntil(t, pcscdReady, "pcscd lists vpcd readers", func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("%w: pcscd exited: %v\n%s", errStop, err, out)
		default:
		}
		if err := vpcdReadersListed(); err != nil {
			return fmt.Errorf("%w (vpcd on ports %d and %d)\n%s", err, port, port+1, out)
		}
		return nil
	})
	return port
}

// pcscdReady bounds the wait for a starting pcscd to list vpcd's readers:
// it loads its drivers first, which took over 10 s once in CI while every
// other package's tests ran beside it.
const pcscdReady = 45 * time.Second

// vpcdReadersListed succeeds when PC/SC lists both vpcd readers.
func vpcdReadersListed() error {
	readers, err := ListPCSCReaders(context.Background())
	if err != nil {
		return err
	}
	var names []string
	for _, r := range readers {
		names = append(names, r.Name)
	}
	for _, want := range []string{vpcdReader0, vpcdReader1} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			return fmt.Errorf("reader %q not in %q", want, names)
		}
	}
	return nil
}

// errStop makes waitUntil give up at once.
var errStop = errors.New("giving up")

// waitUntil polls cond until it succeeds, failing the test at the
// deadline or when cond returns errStop.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if errors.Is(err, errStop) || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		poll := time.NewTimer(20 * time.Millisecond)
		<-poll.C
	}
}

// waitCard waits with GetStatusChange until reader shows a card (present)
// or none.
func waitCard(t *testing.T, reader string, present bool, timeout time.Duration) {
	t.Helper()
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("establish context: %v", err)
	}
	defer sc.Release()
	deadline := time.Now().Add(timeout)
	st := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("reader %q: card present=%v not reached within %s (state %#x)", reader, present, timeout, st[0].EventState)
		}
		err := sc.GetStatusChange(st, left)
		if err != nil && !errors.Is(err, scard.ErrTimeout) {
			t.Fatalf("reader %q status: %v", reader, err)
		}
		ev := st[0].EventState
		isPresent := ev&scard.StatePresent != 0 && ev&scard.StateMute == 0
		if isPresent == present {
			return
		}
		st[0].CurrentState = ev &^ scard.StateChanged
	}
}

// insertCard connects an emulated card to slot (0 or 1) of the vpcd whose
// first slot listens on port (see startPCSCD) and waits until pcscd sees
// it; t.Cleanup removes it and waits until pcscd notices. It returns a
// channel that yields Serve's result when the card goes.
func insertCard(t *testing.T, port, slot int, cfg vicc.Config) <-chan error {
	t.Helper()
	reader := []string{vpcdReader0, vpcdReader1}[slot]
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port+slot))
	ctx, cancel := context.WithCancel(context.Background())
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	conn, err := vicc.Dial(dctx, addr, 20*time.Millisecond)
	if err != nil {
		cancel()
		t.Fatalf("connect emulated card: %v", err)
	}
	done := make(chan error, 1)
	result := make(chan error, 1)
	go func() {
		err := vicc.Serve(ctx, conn, vicc.New(cfg))
		done <- err
		result <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		waitCard(t, reader, false, 10*time.Second)
	})
	waitCard(t, reader, true, 10*time.Second)
	return result
}
