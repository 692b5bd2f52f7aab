package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/node"
	"github.com/x402/x402/pay"
)

// TestBuyEndToEnd runs the whole money path as separate processes: `x402
// ledger serve`, a seller `x402 node` selling for money, and `x402 buy`
// with a local SOCKS5 endpoint that curl downloads through; SIGINT settles
// the channel and the settlement must match the ledger to the nano-unit.
func TestBuyEndToEnd(t *testing.T) {
	m := startBuyMarket(t)
	curl, env, org, seller, payments, admin, nodeLogs, key, buyer := m.curl, m.env, m.origin, m.seller, m.payments, m.admin, m.nodeLogs, m.key, m.buyer
	l := m.ledger

	buy := startProc(t, env, "buy", "--seller", seller+"@"+payments, "--deposit", "1 USD",
		"--max-price", "0.50 USD", "--challenge", "1s", "--listen", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
		"--key", key, "--ledger", l.url, "--json")
	var ep buyEndpoints
	if line := buy.line(t, 30*time.Second); json.Unmarshal([]byte(line), &ep) != nil {
		t.Fatalf("first line of buy --json is not the endpoints: %q\nstderr: %s\nnode: %s", line, buy.stderr.String(), nodeLogs())
	}
	if !strings.HasPrefix(ep.SOCKS5, "socks5h://x402:") || !strings.HasPrefix(ep.HTTP, "http://x402:") ||
		!strings.HasPrefix(ep.SellerSOCKS5, "socks5h://") || ep.SellerSOCKS5 == ep.SOCKS5 || len(ep.Channel) != 64 {
		t.Fatalf("endpoints: %+v", ep)
	}

	const size = 4 << 20
	for _, proxyURL := range []string{ep.SOCKS5, ep.HTTP} {
		body, err := exec.Command(curl, "-sS", "--fail", "--max-time", "60", "--proxy", proxyURL,
			fmt.Sprintf("http://%s/bytes/%d", org, size)).Output()
		if err != nil || len(body) != size {
			t.Fatalf("curl via %s: %d bytes, %v\nbuy: %s\nnode: %s", proxyURL, len(body), err, buy.stderr.String(), nodeLogs())
		}
	}
	// The seller's status shows the channel's money and its exposure.
	var st node.Status
	mustJSON(t, &st, env, "status", "--admin", "http://"+admin, "--json")
	var row *node.BuyerStatus
	for i := range st.Buyers {
		if st.Buyers[i].Channel == ep.Channel {
			row = &st.Buyers[i]
		}
	}
	// The buyer pays ahead from the start, so the seller may never have run
	// unpaid at all; never more than its 64 KiB window.
	if row == nil || row.Owed == 0 || row.Paid < row.Owed || row.MaxUnpaidBytes > 64<<10 {
		t.Fatalf("status of the channel %s: %+v", ep.Channel, st.Buyers)
	}
	if human := mustCLI(t, env, "status", "--admin", "http://"+admin); !strings.Contains(human, "max unpaid") || !strings.Contains(human, row.ID) {
		t.Fatalf("status (human) lacks the channel's row:\n%s", human)
	}
	// The seller's own proxy denies what egress does not allow, even to a paying buyer.
	if err := exec.Command(curl, "-sS", "--fail", "--max-time", "20", "--proxy", ep.SOCKS5, "http://"+admin+"/api/v1/status").Run(); err == nil {
		t.Fatal("the buyer reached the seller's admin API through the proxy")
	}

	if err := buy.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var s settlementJSON
	if line := buy.line(t, 60*time.Second); json.Unmarshal([]byte(line), &s) != nil {
		t.Fatalf("second line of buy --json is not the settlement: %q\nstderr: %s", line, buy.stderr.String())
	}
	if err := buy.cmd.Wait(); err != nil {
		t.Fatalf("buy did not exit cleanly: %v\nstderr: %s", err, buy.stderr.String())
	}

	price := pay.Amount(pay.Nano / 2)
	paid := pay.Amount(s.PaidNano)
	switch {
	case s.Error != "" || s.Channel != ep.Channel:
		t.Fatalf("settlement: %+v", s)
	case s.BytesBilled < 2*size || s.BytesCounted < 2*size:
		t.Fatalf("settlement counted %d and billed %d bytes, want at least %d", s.BytesCounted, s.BytesBilled, 2*size)
	case s.PaidNano != s.SettledNano:
		t.Fatalf("paid %s but settled %s\nbuy: %s\nnode: %s", s.Paid, s.Settled, buy.stderr.String(), nodeLogs())
	case paid != pay.OwedForBytes(s.BytesBilled, price):
		t.Fatalf("paid %d nano for %d bytes, want floor(bytes x 0.50 USD / 2^30) = %d", paid, s.BytesBilled, pay.OwedForBytes(s.BytesBilled, price))
	case s.RefundNano != pay.Nano-s.PaidNano:
		t.Fatalf("refund %s of 1 USD after paying %s", s.Refund, s.Paid)
	case s.Paid != paid.Format(pay.USD) || s.Refund != pay.Amount(s.RefundNano).Format(pay.USD):
		t.Fatalf("settlement strings disagree with nano fields: %+v", s)
	}
	sellerGot := balanceOf(t, env, l.url, seller, "USD")
	feeGot := balanceOf(t, env, l.url, l.init.FeeAccount, "USD")
	// Each claim pays its own fee, rounded down, so the fees sum to at most
	// the fee of the total.
	if sellerGot+feeGot != s.PaidNano || feeGot > uint64(pay.FeeFor(paid, 10)) {
		t.Fatalf("seller %d + fee %d nano, want paid %d (fee at most %d)", sellerGot, feeGot, s.PaidNano, pay.FeeFor(paid, 10))
	}
	if got := balanceOf(t, env, l.url, buyer, "USD"); got != 100*pay.Nano-s.PaidNano {
		t.Fatalf("buyer balance %d nano, want 100 USD - paid %d", got, s.PaidNano)
	}
	var list []channelJSON
	mustJSON(t, &list, env, "channel", "list", "--key", key, "--ledger", l.url, "--json")
	if len(list) != 1 || list[0].Channel != ep.Channel || list[0].Status != "settled" || list[0].ClaimedNano != s.PaidNano {
		t.Fatalf("channel list after buy: %+v", list)
	}
}

// buyMarket is what a `x402 buy` test runs against: a byte origin, a
// ledger, a seller node selling for money, and a funded buyer wallet.
type buyMarket struct {
	curl, origin            string
	ledger                  *testLedger
	env                     []string
	seller, payments, admin string
	nodeLogs                func() string
	key                     string // the buyer's wallet key file
	buyer                   string // its account
}

func startBuyMarket(t *testing.T) buyMarket {
	t.Helper()
	m := buyMarket{curl: testenv.RequireTool(t, "curl", "curl"), env: cleanEnv(t), origin: startByteOrigin(t)}
	m.ledger = startLedger(t, m.env)
	m.seller, m.payments, m.admin, m.nodeLogs = startSellerNode(t, m.env, m.origin, m.ledger.url)
	m.key = filepath.Join(t.TempDir(), "buyer.key")
	m.buyer = strings.TrimSpace(mustCLI(t, m.env, "wallet", "new", "--key", m.key))
	mustCLI(t, m.env, "wallet", "faucet", "--key", m.key, "--ledger", m.ledger.url)
	return m
}

// startSellerNode runs `x402 init` and a paid `x402 node` that may only reach
// origin and settles on the ledger at ledgerURL; it returns the seller's
// account, payment session and admin addresses, and the node's logs.
func startSellerNode(t *testing.T, env []string, origin, ledgerURL string) (seller, payments, admin string, logs func() string) {
	t.Helper()
	nodeDir := filepath.Join(t.TempDir(), "node")
	out := mustCLI(t, env, "init", "--dir", nodeDir)
	m := regexp.MustCompile(`account\s+(x402_\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed no account:\n%s", out)
	}
	admin = fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	cfgPath := filepath.Join(nodeDir, "x402.toml")
	cfg := fmt.Sprintf(`[node]
key = "node.key"
state_dir = "state"
[proxy]
socks5_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
[egress]
default_deny = true
allow = [%q]
[admin]
listen = %q
[payments]
listen = "127.0.0.1:0"
ledger = %q
asset = "USD"
price_per_gib = "0.50"
claim_threshold = "0.001"
`, origin, admin, ledgerURL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	nodeProc := startProc(t, env, "node", "--config", cfgPath)
	waitForText(t, nodeProc, "node started", 20*time.Second)
	st, _, err := fetchStatus(t.Context(), "http://"+admin)
	if err != nil || st.Listeners.Payments == "" {
		t.Fatalf("node status: %+v, %v\n%s", st.Listeners, err, nodeProc.stderr.String())
	}
	return m[1], st.Listeners.Payments, admin, nodeProc.stderr.String
}

// TestBuyWithoutListenPrintsTheSellersProxies runs `x402 buy` without a
// local endpoint: it hands out the seller's proxy URLs with the channel's
// credentials, pays what the statements bill, and settles on SIGINT.
func TestBuyWithoutListenPrintsTheSellersProxies(t *testing.T) {
	m := startBuyMarket(t)
	curl, env, org, seller, payments, nodeLogs, key := m.curl, m.env, m.origin, m.seller, m.payments, m.nodeLogs, m.key
	l := m.ledger
	buy := startProc(t, env, "buy", "--seller", seller+"@"+payments, "--deposit", "1 USD",
		"--max-price", "0.50 USD", "--challenge", "1s", "--key", key, "--ledger", l.url, "--json")
	var ep buyEndpoints
	if line := buy.line(t, 30*time.Second); json.Unmarshal([]byte(line), &ep) != nil {
		t.Fatalf("first line of buy --json: %q\nstderr: %s\nnode: %s", line, buy.stderr.String(), nodeLogs())
	}
	if ep.SOCKS5 != ep.SellerSOCKS5 || !strings.HasPrefix(ep.SOCKS5, "socks5h://ch-") {
		t.Fatalf("without --listen the endpoints must be the seller's, with channel credentials: %+v", ep)
	}
	const size = 2 << 20
	body, err := exec.Command(curl, "-sS", "--fail", "--max-time", "60", "--proxy", ep.SOCKS5, fmt.Sprintf("http://%s/bytes/%d", org, size)).Output()
	if err != nil || len(body) != size {
		t.Fatalf("curl via the seller's proxy: %d bytes, %v\nnode: %s", len(body), err, nodeLogs())
	}
	if err := buy.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var s settlementJSON
	if line := buy.line(t, 60*time.Second); json.Unmarshal([]byte(line), &s) != nil {
		t.Fatalf("second line of buy --json: %q\nstderr: %s", line, buy.stderr.String())
	}
	buy.cmd.Wait()
	if s.PaidNano == 0 || s.PaidNano != s.SettledNano || s.RefundNano != pay.Nano-s.PaidNano || s.BytesBilled < size {
		t.Fatalf("settlement: %+v", s)
	}
}
