package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// server is one running proxy under test; proc is nil for the direct
// baseline, which connects to the origins without a proxy.
type server struct {
	proc        *proc
	socks, http string // proxy addresses ("" when not offered)
	user, pass  string // "" when the proxy runs without authentication
}

func (s *server) stop() {
	if s.proc != nil {
		s.proc.stop()
	}
}

// target is one proxy implementation (or the direct baseline).
type target struct {
	name    string
	binary  string // "" for x402 and direct
	pkg     string // its Debian package
	startFn func(ctx context.Context, b *bench) (*server, error)
}

var (
	targetDirect     = target{name: "direct", startFn: startDirect}
	targetX402       = target{name: "x402", startFn: startX402}
	targetDante      = target{name: "dante", binary: "danted", pkg: "dante-server", startFn: startDante}
	targetMicrosocks = target{name: "microsocks", binary: "microsocks", pkg: "microsocks", startFn: startMicrosocks}
	targetTinyproxy  = target{name: "tinyproxy", binary: "tinyproxy", pkg: "tinyproxy", startFn: startTinyproxy}
)

const startTimeout = 15 * time.Second

func startDirect(context.Context, *bench) (*server, error) { return &server{}, nil }

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freeAddrs returns n loopback addresses with distinct free ports.
func freeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		out[i] = loopback(p)
	}
	return out, nil
}

// started waits for p's listeners and wraps it as a server; on failure it
// stops p.
func started(ctx context.Context, p *proc, s *server, addrs ...string) (*server, error) {
	if err := p.waitPorts(ctx, startTimeout, addrs...); err != nil {
		p.stop()
		return nil, err
	}
	s.proc = p
	return s, nil
}

func startX402(ctx context.Context, b *bench) (*server, error) {
	dir := filepath.Join(b.dir, "x402")
	if _, err := os.Stat(filepath.Join(dir, "node.key")); err != nil {
		out, err := exec.CommandContext(ctx, b.x402, "init", "--dir", dir).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("x402 init: %v: %s", err, out)
		}
	}
	addrs, err := freeAddrs(3)
	if err != nil {
		return nil, err
	}
	cfg := x402Config(x402Conf{
		Key: "node.key", StateDir: "state",
		SOCKS5: addrs[0], HTTP: addrs[1], Admin: addrs[2],
		Allow: []string{b.org.streamAddr(), b.org.idleAddr(), b.org.httpAddr()},
		User:  b.user, Password: b.pass,
	})
	cfgPath := filepath.Join(dir, "x402.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	// Warn level: a real node's destinations are allowed by default and
	// logged at Debug; these loopback origins need allow entries, whose use
	// is logged at Info on every connection.
	p, err := startProc("x402", filepath.Join(b.dir, "x402.log"), nil,
		b.x402, "node", "--config", cfgPath, "--log-level", "warn", "--drain", "1s")
	if err != nil {
		return nil, err
	}
	return started(ctx, p, &server{socks: addrs[0], http: addrs[1], user: b.user, pass: b.pass}, addrs...)
}

func startDante(ctx context.Context, b *bench) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.dir, "dante")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "danted.conf")
	cfg := danteConfig(danteConf{Port: port, LogPath: filepath.Join(dir, "danted.log"), Auth: b.dante.auth, Root: os.Geteuid() == 0})
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("danted", filepath.Join(dir, "danted.out"), []string{"TMPDIR=" + dir},
		b.bin["dante"], "-f", cfgPath, "-p", filepath.Join(dir, "danted.pid"))
	if err != nil {
		return nil, err
	}
	s := &server{socks: loopback(port)}
	if b.dante.auth {
		s.user, s.pass = b.dante.user, b.dante.pass
	}
	return started(ctx, p, s, s.socks)
}

func startMicrosocks(ctx context.Context, b *bench) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := startProc("microsocks", filepath.Join(b.dir, "microsocks.log"), nil,
		microsocksArgs(b.bin["microsocks"], port, b.user, b.pass)...)
	if err != nil {
		return nil, err
	}
	return started(ctx, p, &server{socks: loopback(port), user: b.user, pass: b.pass}, loopback(port))
}

func startTinyproxy(ctx context.Context, b *bench) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.dir, "tinyproxy")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	c := tinyConf{Port: port, LogPath: filepath.Join(dir, "tinyproxy.log"), PidPath: filepath.Join(dir, "tinyproxy.pid"),
		User: b.user, Password: b.pass, MaxClients: 256}
	if os.Geteuid() == 0 {
		// tinyproxy refuses to keep root; its log and pid files stay
		// writable for nobody in this directory.
		c.RunAs, c.RunAsGroup = "nobody", "nogroup"
		os.Chmod(dir, 0o777)
	}
	cfgPath := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(cfgPath, []byte(tinyproxyConfig(c)), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("tinyproxy", filepath.Join(dir, "tinyproxy.out"), nil, b.bin["tinyproxy"], "-d", "-c", cfgPath)
	if err != nil {
		return nil, err
	}
	return started(ctx, p, &server{http: loopback(port), user: b.user, pass: b.pass}, loopback(port))
}
