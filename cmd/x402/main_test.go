package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/x402/x402/internal/ports"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/node"
	"github.com/x402/x402/pay"
)

// x402Bin is the binary under test, built once by TestMain.
var x402Bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "x402-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	x402Bin = filepath.Join(dir, "x402")
	if out, err := exec.Command("go", "build", "-o", x402Bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build x402: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func x402(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(x402Bin, args...).CombinedOutput()
	return string(out), err
}

func TestVersionAndUsage(t *testing.T) {
	out, err := x402(t, "version")
	if err != nil || !strings.HasPrefix(out, "x402 ") {
		t.Fatalf("x402 version: %v\n%s", err, out)
	}
	out, err = x402(t, "frobnicate")
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v\n%s", err, out)
	}
	out, err = x402(t, "init")
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "--dir is required") {
		t.Fatalf("init without --dir: %v\n%s", err, out)
	}
	out, err = x402(t, "bench", "shard", "--senders", "5000")
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "--senders must be at most 4096") {
		t.Fatalf("bench shard with too many senders: %v\n%s", err, out)
	}
}

func TestInitCreatesPrivateKeyAndCommentedConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	out, err := x402(t, "init", "--dir", dir)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if !strings.Contains(out, "account  x402_") {
		t.Fatalf("init output does not show the account id:\n%s", out)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "node.key"): 0o600, filepath.Join(dir, "x402.toml"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "x402.toml"))
	if err != nil || !strings.Contains(string(cfg), "# ") {
		t.Fatalf("config is not commented: %v", err)
	}
	if _, err := node.LoadConfig(filepath.Join(dir, "x402.toml")); err != nil {
		t.Fatalf("the config init wrote does not load: %v", err)
	}
	if out, err := x402(t, "init", "--dir", dir); err == nil || !strings.Contains(out, "refusing to overwrite") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
}

// TestNodeProcessServesMetersAndDrains runs `x402 node` as a real process:
// curl through its SOCKS5 proxy, `x402 status --json`, then SIGTERM; the
// node exits 0 and its usage survives into the next run.
func TestNodeProcessServesMetersAndDrains(t *testing.T) {
	curl := testenv.RequireTool(t, "curl", "curl")
	org := startTestOrigin(t)
	dir := filepath.Join(t.TempDir(), "node")
	if out, err := x402(t, "init", "--dir", dir); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	ports := freePorts(t, 3)
	cfgPath := writeNodeConfig(t, dir, ports, org, `[[buyers]]
id = "agent-1"
user = "agent"
password = "pw"
`)
	admin := fmt.Sprintf("http://127.0.0.1:%d", ports[2])

	run := func() {
		cmd, logs := startNode(t, cfgPath)
		out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "20", "--socks5-hostname",
			fmt.Sprintf("agent:pw@127.0.0.1:%d", ports[0]), "http://"+org+"/bytes/100000").Output()
		if err != nil || len(out) != 100000 {
			t.Fatalf("curl through the node: %d bytes, %v\n%s", len(out), err, logs())
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("node did not exit cleanly on SIGTERM: %v\n%s", err, logs())
		}
		if !strings.Contains(logs(), "node stopped") {
			t.Fatalf("node logs lack a clean stop:\n%s", logs())
		}
	}
	run()
	cmd, logs := startNode(t, cfgPath)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	out, err := exec.Command(x402Bin, "status", "--admin", admin, "--json").Output()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, logs())
	}
	var st node.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if len(st.Buyers) != 1 || st.Buyers[0].ID != "agent-1" || st.Buyers[0].TotalConns != 1 || st.Buyers[0].BytesDown < 100000 {
		t.Fatalf("status after restart: %+v", st.Buyers)
	}
	human, err := exec.Command(x402Bin, "status", "--admin", admin).Output()
	if err != nil || !strings.Contains(string(human), "agent-1") {
		t.Fatalf("status (human): %v\n%s", err, human)
	}
}

func TestNodeRefusesBadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(p, []byte("[proxy]\nsocks5_listen = 7\n"), 0o600)
	out, err := x402(t, "node", "--config", p)
	if err == nil || !strings.Contains(out, p) {
		t.Fatalf("node with a bad config: %v\n%s", err, out)
	}
}

func TestDemoEndToEnd(t *testing.T) {
	out, err := exec.Command(x402Bin, "demo", "--exit", "--json", "--mib", "1").Output()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	var res demoResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, out)
	}
	if len(res.Fetches) != 3 || res.BytesRelayed < 3<<20 {
		t.Fatalf("demo fetched %+v, relayed %d", res.Fetches, res.BytesRelayed)
	}
	owed := pay.OwedForBytes(res.BytesRelayed, res.PriceNanoPerGiB)
	switch {
	case res.PriceNanoPerGiB != demoPrice || res.OwedNano != owed:
		t.Fatalf("price %d, owed %d; want %d, %d", res.PriceNanoPerGiB, res.OwedNano, demoPrice, owed)
	case res.PaidNano != owed || res.SettledNano != owed:
		t.Fatalf("paid %d, settled %d; want %d", res.PaidNano, res.SettledNano, owed)
	case res.SellerBalanceNano+res.FeeNano != owed:
		t.Fatalf("seller %d + fee %d != %d", res.SellerBalanceNano, res.FeeNano, owed)
	case res.BuyerRefundNano != demoDeposit-owed:
		t.Fatalf("refund %d, want %d", res.BuyerRefundNano, demoDeposit-owed)
	case res.Replicas != 4 || res.LedgerTxs < 3 || res.FinalityMsP50 <= 0 || res.FinalityMsP99 < res.FinalityMsP50:
		t.Fatalf("shard: %d replicas, %d txs, finality p50 %v p99 %v", res.Replicas, res.LedgerTxs, res.FinalityMsP50, res.FinalityMsP99)
	}
}

func TestDemoHoldJSONServesRealClients(t *testing.T) {
	curl := testenv.RequireTool(t, "curl", "curl")
	cmd := exec.Command(x402Bin, "demo", "--hold", "--json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ep demoEndpoints
	if err := json.Unmarshal([]byte(line), &ep); err != nil {
		t.Fatalf("first line is not the endpoints JSON: %v\n%s", err, line)
	}
	for _, args := range [][]string{
		{"--proxy", ep.BuyerSOCKS5},
		{"--proxy", ep.BuyerHTTP},
		{"--proxy", ep.BuyerHTTP, "--proxytunnel"},
		{"--proxy", ep.SOCKS5},
		{"--proxy", ep.HTTP},
		{"--proxy", ep.HTTP, "--proxytunnel"},
	} {
		out, err := exec.Command(curl, append([]string{"-sS", "--fail", "--max-time", "20"}, append(args, ep.Origin+"/bytes/5000")...)...).Output()
		if err != nil || len(out) != 5000 {
			t.Fatalf("curl %v: %d bytes, %v", args, len(out), err)
		}
	}
	// Only the demo's own origin is allowed: its admin API is not.
	u, _ := url.Parse(ep.HTTP)
	tr := &http.Transport{Proxy: http.ProxyURL(u)}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ep.Admin + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("demo proxy to its own admin API: %s, want 403", resp.Status)
	}
	st, _, err := fetchStatus(t.Context(), ep.Admin)
	if err != nil {
		t.Fatal(err)
	}
	var paid, static bool
	for _, b := range st.Buyers {
		switch {
		case b.Channel == ep.Channel && b.TotalConns >= 3 && b.Owed > 0:
			paid = true
		case b.ID == "demo-static" && b.TotalConns >= 3:
			static = true
		}
	}
	if !paid || !static {
		t.Fatalf("demo status after the fetches: %+v", st.Buyers)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo --hold did not exit cleanly: %v", err)
	}
}

func startNode(t *testing.T, cfgPath string) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command(x402Bin, "node", "--config", cfgPath)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testenv.Eventually(t, "the node to start", func() bool { return strings.Contains(logs.String(), "node started") })
	return cmd, logs.String
}

func startTestOrigin(t *testing.T) string {
	t.Helper()
	org, err := startOrigin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(org.close)
	return org.plain.Addr().String()
}

// freePorts picks n free loopback TCP ports below the ephemeral range, so
// no socket another test binds to port 0 can take one before the node
// under test listens on it.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ps, err := ports.Free("tcp", n)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// writeNodeConfig writes dir/x402.toml for a node on loopback: SOCKS5,
// HTTP and admin on ports[0..2], egress only to allow, plus extra sections.
func writeNodeConfig(t *testing.T, dir string, ports []int, allow, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`[node]
key = "node.key"
state_dir = "state"
[proxy]
socks5_listen = "127.0.0.1:%d"
http_listen = "127.0.0.1:%d"
[egress]
default_deny = true
allow = ["%s"]
[admin]
listen = "127.0.0.1:%d"
`, ports[0], ports[1], allow, ports[2]) + extra
	path := filepath.Join(dir, "x402.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
