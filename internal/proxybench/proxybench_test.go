package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/node"
)

// TestX402ConfigLoads checks that the generated config is one `x402 node`
// accepts.
func TestX402ConfigLoads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x402.toml")
	cfg := x402Config(x402Conf{Key: "node.key", StateDir: "state", SOCKS5: "127.0.0.1:1", HTTP: "127.0.0.1:2", Admin: "127.0.0.1:3",
		Allow: []string{"127.0.0.1:4", "127.0.0.1:5"}, User: "bench", Password: `p"w`})
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := node.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Egress.DefaultDeny || len(c.Egress.Allow) != 2 || c.Buyers[0].Password != `p"w` || c.Proxy.MaxConnsPerBuyer < 1000 {
		t.Fatalf("config not as written: %+v", c)
	}
}

func TestOtherConfigs(t *testing.T) {
	d := danteConfig(danteConf{Port: 1080, LogPath: "/tmp/x/d.log", Auth: true, Root: true})
	for _, want := range []string{"internal: 127.0.0.1 port = 1080", "socksmethod: username", "user.privileged: root", "to: 127.0.0.0/8"} {
		if !strings.Contains(d, want) {
			t.Errorf("danted.conf lacks %q:\n%s", want, d)
		}
	}
	if d := danteConfig(danteConf{Port: 1}); !strings.Contains(d, "socksmethod: none") || strings.Contains(d, "user.") {
		t.Errorf("unauthenticated non-root danted.conf:\n%s", d)
	}
	tp := tinyproxyConfig(tinyConf{Port: 8888, LogPath: "/t/l", PidPath: "/t/p", User: "u", Password: "pw", MaxClients: 99})
	for _, want := range []string{"Port 8888\n", "Listen 127.0.0.1\n", "BasicAuth u pw\n", "MaxClients 99\n", `LogFile "/t/l"`} {
		if !strings.Contains(tp, want) {
			t.Errorf("tinyproxy config lacks %q:\n%s", want, tp)
		}
	}
	if got := strings.Join(microsocksArgs("ms", 7, "u", "p"), " "); got != "ms -i 127.0.0.1 -p 7 -u u -P p" {
		t.Errorf("microsocks args: %s", got)
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "64MiB": 64 << 20, "512K": 512 << 10, "1000": 1000} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("-1MiB"); err == nil {
		t.Error("parseSize accepted a negative size")
	}
	out := "goos: linux\nBenchmarkRelay/metering=off-2   \t      60\t  17700000 ns/op\t 947.50 MB/s\n" +
		"BenchmarkRelay/metering=on/chunk=64KiB-2 \t 50\t 20000000 ns/op\t 838.86 MB/s\t 0 B/op\n" +
		"BenchmarkRelay/metering=off-2   \t      60\t  17000000 ns/op\t 987.50 MB/s\nPASS\n"
	got, names := parseRelayBench(out)
	if len(names) != 2 || names[0] != "metering=off" || len(got["metering=off"]) != 2 || got["metering=on/chunk=64KiB"][0] != 838.86 {
		t.Errorf("parseRelayBench: %v %v", got, names)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	st, err := parseStat([]byte("42 (a) b) S 1 42 42 0 -1 4194560 1 2 3 4 150 50 7 3 20 0 1 0 5 6 7"))
	if err != nil || st.pgrp != 42 || st.cpu != 210*clockTick {
		t.Errorf("parseStat = %+v, %v", st, err)
	}
	kib, err := parseKiBField(bufio.NewScanner(strings.NewReader("Name:\tx\nVmRSS:\t  12345 kB\n")), "VmRSS:")
	if err != nil || kib != 12345 {
		t.Errorf("parseKiBField = %d, %v", kib, err)
	}
}

// TestQuickEndToEnd runs a small benchmark of x402 (a real process) and the
// direct baseline, and checks that every scenario produced numbers and that
// no process is left behind.
func TestQuickEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"--quick", "--json", "--size", "8MiB", "--requests", "100", "--idle", "50", "--rounds", "1",
		"--proxies", "", "--only", "bulk,http,idle"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if len(res.Bulk) != 2 || len(res.HTTP) != 2 || len(res.Idle) != 1 {
		t.Fatalf("scenarios missing:\n%s", out.String())
	}
	for _, b := range res.Bulk {
		if b.Error != "" || b.MiBps <= 0 {
			t.Errorf("bulk %s: %+v", b.Target, b)
		}
	}
	for _, h := range res.HTTP {
		if h.Error != "" || h.RPS <= 0 {
			t.Errorf("http %s: %+v", h.Target, h)
		}
	}
	if i := res.Idle[0]; i.Error != "" || i.WithKiB <= 0 || i.Procs != 1 {
		t.Errorf("idle: %+v", i)
	}
	if len(res.Targets) != 2 {
		t.Errorf("want the vs-direct and RSS targets evaluated, got %+v", res.Targets)
	}
	running.Lock()
	left := len(running.procs)
	running.Unlock()
	if left != 0 {
		t.Errorf("%d processes still running", left)
	}
}
