package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	xproxy "golang.org/x/net/proxy"

	"github.com/x402/x402/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t testing.TB, allow ...string) Config {
	cfg := DefaultConfig()
	cfg.Node.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Proxy.SOCKS5Listen = "127.0.0.1:0"
	cfg.Proxy.HTTPListen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Egress.DefaultDeny = true
	cfg.Egress.Allow = allow
	cfg.Buyers = []BuyerEntry{{ID: "agent-7", User: "agent", Password: "s3cret"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Start(cfg, Options{Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func stopNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// origin serves 1000 bytes at every path.
func origin(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Repeat("x", 1000)))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func getViaSOCKS(t *testing.T, socksAddr, target string) (int, error) {
	d, err := xproxy.SOCKS5("tcp", socksAddr, &xproxy.Auth{User: "agent", Password: "s3cret"}, &net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: nil, DialContext: d.(xproxy.ContextDialer).DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + target + "/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return len(b), err
}

func fetchStatus(t *testing.T, admin string) Status {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status Content-Type %q", ct)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func waitActiveZero(t *testing.T, n *Node, buyer string) {
	t.Helper()
	testenv.Eventually(t, "connections to end", func() bool { return n.Meter().Buyer(buyer).Usage().ActiveConns == 0 })
}

func TestStatusAPIAndMeterPersistAcrossRestart(t *testing.T) {
	org := origin(t)
	cfg := testConfig(t, org)
	n := startNode(t, cfg)
	for range 2 {
		if got, err := getViaSOCKS(t, n.Addrs().SOCKS5, org); err != nil || got != 1000 {
			t.Fatalf("fetch via socks5: %d bytes, %v", got, err)
		}
	}
	waitActiveZero(t, n, "agent-7")
	st := fetchStatus(t, n.Addrs().Admin)
	if len(st.Buyers) != 1 || st.Buyers[0].ID != "agent-7" || st.Buyers[0].TotalConns != 2 || st.Buyers[0].BytesDown < 2000 {
		t.Fatalf("status buyers %+v", st.Buyers)
	}
	before := st.Buyers[0]
	stopNode(t, n)

	for _, p := range []string{cfg.Node.StateDir, filepath.Join(cfg.Node.StateDir, "meter.db")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v: others can read it", p, perm)
		}
	}

	n = startNode(t, cfg)
	defer stopNode(t, n)
	after := fetchStatus(t, n.Addrs().Admin).Buyers
	if len(after) != 1 || after[0] != before {
		t.Fatalf("after restart %+v, want %+v", after, before)
	}
}

func TestNodeNeverRelaysToItsOwnListeners(t *testing.T) {
	org := origin(t)
	// Even an allow entry covering all of loopback does not open the node's
	// own admin API (or proxies) to buyers.
	cfg := testConfig(t, "127.0.0.0/8:*")
	n := startNode(t, cfg)
	defer stopNode(t, n)
	if got, err := getViaSOCKS(t, n.Addrs().SOCKS5, org); err != nil || got != 1000 {
		t.Fatalf("allowed origin: %d bytes, %v", got, err)
	}
	for _, self := range []string{n.Addrs().Admin, n.Addrs().HTTP, n.Addrs().SOCKS5} {
		if _, err := getViaSOCKS(t, n.Addrs().SOCKS5, self); err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("socks5 to the node's own %s: %v, want 'not allowed by ruleset'", self, err)
		}
		proxyURL := &url.URL{Scheme: "http", User: url.UserPassword("agent", "s3cret"), Host: n.Addrs().HTTP}
		tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
		resp, err := (&http.Client{Transport: tr}).Get("http://" + self + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("http proxy to the node's own %s: %s %q, want 403", self, resp.Status, body)
		}
	}
}

func TestLoadConfigRejectsMistakes(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown key":     "[proxy]\nsocks5_listn = \"127.0.0.1:1080\"\n",
		"bad duration":    "[proxy]\nidle_timeout = \"five minutes\"\n",
		"bad listen":      "[proxy]\nsocks5_listen = \"nonsense\"\n",
		"bad allow entry": "[egress]\nallow = [\"no-port\"]\n",
		"duplicate user":  "[[buyers]]\nid = \"a\"\nuser = \"u\"\npassword = \"p\"\n[[buyers]]\nid = \"b\"\nuser = \"u\"\npassword = \"q\"\n",
		"not toml":        "this is not toml",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("LoadConfig: %v, want an error naming the file", err)
			}
		})
	}
}

func TestDefaultConfigFileLoads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x402.toml")
	if err := WriteDefault(p); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxy.SOCKS5Listen != "0.0.0.0:1080" || cfg.Admin.Listen != "127.0.0.1:9402" || cfg.KeyPath() != filepath.Join(filepath.Dir(p), "node.key") {
		t.Fatalf("default config loaded as %+v", cfg)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v, want 0600", fi.Mode().Perm())
	}
}
