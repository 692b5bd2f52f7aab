//go:build linux

package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/x402/x402/sim/internal/atmodem"
	"golang.org/x/sys/unix"
)

// startModem runs an emulated modem on a new pseudo-terminal and returns the
// path of its tty side, which the reader opens like /dev/ttyUSB2.
func startModem(t *testing.T, cfg atmodem.Config) string {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- atmodem.Serve(ctx, master, cfg) }()
	t.Cleanup(func() {
		cancel()
		// The master is a blocking descriptor: the emulator's read ends
		// with EIO once no tty descriptor is left open.
		tty.Close()
		<-done
		master.Close()
	})
	return tty.Name()
}

// modemCfg is a modem with the test SIM.
func modemCfg(echo bool, cmds ...string) atmodem.Config {
	return atmodem.Config{IMSI: wantIMSI, ICCID: wantICCID, Echo: echo, Commands: cmds}
}

func TestModemReader(t *testing.T) {
	urcs := []string{"+CREG: 1", "RING", "^RSSI:18", "+CEREG: 0,1"}
	tests := []struct {
		name string
		cfg  atmodem.Config
		mnc  string
	}{
		{"echo on, AT+CCID", modemCfg(true, atmodem.CCID), "01"},
		{"echo off, AT+CCID", modemCfg(false, atmodem.CCID), "01"},
		{"only AT+QCCID", modemCfg(true, atmodem.QCCID), "01"},
		{"only AT^ICCID? (swapped)", modemCfg(false, atmodem.ICCID), "01"},
		{"only AT+CRSM", modemCfg(true, atmodem.CRSM), "01"},
		{"URCs interleaved", func() atmodem.Config { c := modemCfg(true, atmodem.QCCID); c.URCs = urcs; return c }(), "01"},
		{"+CIMI: prefix", func() atmodem.Config { c := modemCfg(false, atmodem.CCID); c.CIMIPrefix = true; return c }(), "01"},
		{"slow answers within the timeout", func() atmodem.Config { c := modemCfg(true, atmodem.CCID); c.Delay = 300 * time.Millisecond; return c }(), "01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := startModem(t, tt.cfg)
			m := &ModemReader{Device: dev, Timeout: 2 * time.Second}
			id, err := m.ReadIdentity(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if id.IMSI != wantIMSI || id.ICCID != wantICCID || id.MCC != "262" || id.MNC != tt.mnc {
				t.Fatalf("read %+v", id)
			}
			if id.Source != (Source{Kind: SourceModem, Name: dev}) || !id.Source.SIMAnchored() {
				t.Fatalf("source %+v", id.Source)
			}
		})
	}
}

func TestModemMNCFromEFAD(t *testing.T) {
	cfg := modemCfg(true, atmodem.CCID, atmodem.CRSM)
	cfg.IMSI, cfg.MNCLength = wantIMSIUK, 3
	id, err := (&ModemReader{Device: startModem(t, cfg), Timeout: 2 * time.Second}).ReadIdentity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id.MNC != "150" {
		t.Fatalf("MNC %q, want 150 from EF_AD", id.MNC)
	}
}

func TestModemErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     atmodem.Config
		timeout time.Duration
		is      []error
		msg     string
	}{
		{"SIM PIN required", func() atmodem.Config {
			c := modemCfg(true, atmodem.CCID, atmodem.CRSM)
			c.CIMIResult = "+CME ERROR: 11"
			return c
		}(), time.Second, []error{ErrPINRequired}, "AT+CIMI"},
		{"SIM not inserted", func() atmodem.Config {
			c := modemCfg(false, atmodem.CCID)
			c.CIMIResult = "+CME ERROR: 10"
			return c
		}(), time.Second, []error{ErrNoCard}, "SIM not inserted"},
		{"no ICCID command answered", modemCfg(true), time.Second, []error{ErrNoAnswer}, "AT^ICCID?"},
		{"silent modem", func() atmodem.Config { c := modemCfg(true, atmodem.CCID); c.Silent = true; return c }(),
			300 * time.Millisecond, []error{ErrTimeout}, "does not answer AT"},
		{"answers slower than the timeout", func() atmodem.Config {
			c := modemCfg(false, atmodem.CCID)
			c.Delay, c.DelayCommand = 2*time.Second, atmodem.ATCIMI
			return c
		}(), 300 * time.Millisecond, []error{ErrTimeout}, "AT+CIMI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &ModemReader{Device: startModem(t, tt.cfg), Timeout: tt.timeout}
			id, err := m.ReadIdentity(t.Context())
			if err == nil {
				t.Fatalf("read %+v, want error", id)
			}
			for _, want := range tt.is {
				if !errors.Is(err, want) {
					t.Errorf("error %q is not %v", err, want)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			t.Logf("error (as expected): %v", err)
		})
	}
}

// TestModemRecoversFromHungCommand has AT+CCID answer (ERROR) late, after
// the reader gave up on it: the reader must resynchronise, not take the late
// answer for a later command's, and get the ICCID through AT+CRSM.
func TestModemRecoversFromHungCommand(t *testing.T) {
	cfg := modemCfg(true, atmodem.CRSM)
	cfg.Delay, cfg.DelayCommand = time.Second, atmodem.CCID
	cfg.ICCID = "8944110012345678901"
	m := &ModemReader{Device: startModem(t, cfg), Timeout: 400 * time.Millisecond}
	id, err := m.ReadIdentity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id.ICCID != "8944110012345678901" || id.IMSI != wantIMSI {
		t.Fatalf("read %+v", id)
	}
}

func TestModemContextCancel(t *testing.T) {
	cfg := modemCfg(true)
	cfg.Silent = true
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := (&ModemReader{Device: startModem(t, cfg), Timeout: time.Minute}).ReadIdentity(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancellation took %s", d)
	}
}

func TestModemHangup(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	name := tty.Name()
	tty.Close()
	master.Close()
	_, err = (&ModemReader{Device: name, Timeout: time.Second}).ReadIdentity(t.Context())
	if err == nil {
		t.Fatal("read from a closed pty succeeded")
	}
}

func TestSerialRawMode(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer tty.Close()
	p, err := openSerial(tty.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tio, err := unix.IoctlGetTermios(p.fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != 0 || tio.Iflag&(unix.ICRNL|unix.IXON) != 0 || tio.Oflag&unix.OPOST != 0 {
		t.Fatalf("port not raw: %+v", tio)
	}
	if _, err := openSerial("/nonexistent/ttyUSB9"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open missing device: %v", err)
	}
}

func TestDiscoverModem(t *testing.T) {
	silent := modemCfg(true)
	silent.Silent = true
	silentDev := startModem(t, silent)
	good := startModem(t, modemCfg(false, atmodem.CCID))
	r, err := Discover(t.Context(), DiscoverOptions{
		SkipPCSC:     true,
		ModemGlobs:   []string{"/nonexistent/ttyUSB*", silentDev, good},
		ProbeTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if mr, ok := r.(*ModemReader); !ok || mr.Device != good {
		t.Fatalf("Discover = %#v, want the modem on %s", r, good)
	}
	_, err = Discover(t.Context(), DiscoverOptions{SkipPCSC: true, ModemGlobs: []string{silentDev}, ProbeTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrNoReader) || !strings.Contains(err.Error(), silentDev) {
		t.Fatalf("Discover with only a silent port: %v", err)
	}
}

// TestModemPortInUseIsRefused: a port another process has open (here a
// child holding it as its stdin, as ModemManager would) is refused with the
// holder named, and so is a port another reader has locked; once they let
// go, the identity reads.
func TestModemPortInUseIsRefused(t *testing.T) {
	path := startModem(t, modemCfg(false, atmodem.CCID))
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	sleep.Stdin = f
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	m := &ModemReader{Device: path, Timeout: time.Second}
	_, err = m.ReadIdentity(context.Background())
	if !errors.Is(err, ErrPortBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d (sleep)", sleep.Process.Pid)) {
		t.Fatalf("reading a port the child holds: %v; want ErrPortBusy naming pid %d (sleep)", err, sleep.Process.Pid)
	}
	sleep.Process.Kill()
	sleep.Wait()

	held, err := openSerial(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadIdentity(context.Background()); !errors.Is(err, ErrPortBusy) {
		t.Fatalf("reading a port another reader has locked: %v; want ErrPortBusy", err)
	}
	held.Close()
	id, err := m.ReadIdentity(context.Background())
	if err != nil || id.IMSI != wantIMSI {
		t.Fatalf("after the holders let go: %+v, %v", id, err)
	}
}
