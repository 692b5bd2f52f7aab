package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/internal/testenv"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/proxy"
)

// TestSellerKilledMidDownloadStillClaims kills a paid `x402 node` with
// SIGKILL in the middle of a download, restarts it on the same state, and
// checks that it claims at least the price of what it had relayed minus one
// credit window, while the buyer never paid more than it was billed: not a
// nano more with `--prepay-kib 0`, and no more than its prepayment window
// with the default prepayment (a seller that crashed claims all it stored;
// a cooperative close would have refunded the prepayment).
func TestSellerKilledMidDownloadStillClaims(t *testing.T) {
	for _, c := range []struct {
		name   string
		prepay int64
	}{{"prepay-none", -1}, {"prepay-default", 0}} {
		t.Run(c.name, func(t *testing.T) { testSellerKilledMidDownload(t, c.prepay) })
	}
}

func testSellerKilledMidDownload(t *testing.T, prepay int64) {
	ctx := context.Background()
	dir := t.TempDir()
	nodeDir := filepath.Join(dir, "node")
	if out, err := x402(t, "init", "--dir", nodeDir); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	sellerKey, err := keys.Load(filepath.Join(nodeDir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	buyerKey, _ := keys.Generate()
	issuer, _ := keys.Generate()
	seller, buyerAcc := pay.AccountOf(publicKey(sellerKey)), pay.AccountOf(publicKey(buyerKey))
	g := ledger.Genesis{Chain: "x402-crash", FeePPM: 10, FeeAccount: pay.AccountOf(publicKey(issuer)), Issuer: pay.AccountOf(publicKey(issuer)),
		Allocations:  []ledger.Allocation{{Account: buyerAcc, Asset: pay.USD, Amount: 10 * pay.Nano}},
		MinChallenge: 10 * time.Millisecond, MaxChallenge: time.Hour}
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), g)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seq := ledger.NewSequencer(l, time.Now)
	ledgerSrv := httptest.NewServer(ledger.NewHTTPHandler(seq))
	defer ledgerSrv.Close()

	org := startTestOrigin(t)
	ports := freePorts(t, 3)
	payPort := freeUDPPort(t)
	const window = 64 << 10
	cfgPath := writeNodeConfig(t, nodeDir, ports, org, fmt.Sprintf(`[payments]
listen = "127.0.0.1:%d"
ledger = "%s"
price_per_gib = "0.50"
credit_window = %d
claim_threshold = "1"
`, payPort, ledgerSrv.URL, window))
	node1, logs := startNode(t, cfgPath)

	agent, err := buyer.StartAgent(ctx, buyer.AgentConfig{
		Key: buyerKey, Ledger: ledger.NewHTTPClient(ledgerSrv.URL), SellerAddr: fmt.Sprintf("127.0.0.1:%d", payPort), Seller: seller,
		Asset: pay.USD, Deposit: pay.Nano, Challenge: 20 * time.Millisecond, ClaimWait: 100 * time.Millisecond,
		Limits: buyer.Limits{PrepayBytes: prepay}, ListenSOCKS5: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("buyer agent: %v\n%s", err, logs())
	}
	socks, _, user, pass := agent.LocalEndpoints()
	_, portStr, _ := net.SplitHostPort(org)
	port, _ := strconv.Atoi(portStr)
	c, err := proxy.DialSOCKS5(ctx, socks, user, pass, "127.0.0.1", uint16(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /bytes/"+strconv.Itoa(256<<20)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	// Read until a few MiB have been paid for, then kill the seller.
	got, err := io.CopyN(io.Discard, c, 8<<20)
	if err != nil {
		t.Fatalf("download before the crash: %d bytes, %v\n%s", got, err, logs())
	}
	testenv.Eventually(t, "payments for the first MiBs", func() bool { return agent.Progress().Paid > pay.OwedForBytes(4<<20, pay.Nano/2) })
	paidAtKill := agent.Progress().Paid
	if err := node1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	node1.Wait()
	io.Copy(io.Discard, c) // the tunnel dies with the seller

	// The restarted seller claims what it had made durable.
	node2, logs2 := startNode(t, cfgPath)
	defer func() { node2.Process.Signal(syscall.SIGTERM); node2.Wait() }()
	st, err := seq.Channel(ctx, agent.Channel())
	if err != nil {
		t.Fatal(err)
	}
	// The seller relayed at least what the client read; it extended credit
	// only one window beyond the payments it had on disk.
	windowValue := pay.OwedForBytes(window, pay.Nano/2) + 1
	relayedValue := pay.OwedForBytes(uint64(got), pay.Nano/2)
	testenv.Eventually(t, "the restarted seller to claim", func() bool {
		st, _ = seq.Channel(ctx, agent.Channel())
		return st.Claimed+windowValue >= relayedValue
	})
	s, err := agent.Close(ctx)
	if err != nil {
		t.Fatalf("settle: %v\n%s", err, logs2())
	}
	t.Logf("paid at kill %s (relayed at least %s), claimed %s, final payment %s, billed %s, prepay %s, settled %s, refund %s",
		paidAtKill, relayedValue, st.Claimed, s.Paid, s.Billed, s.Prepay, s.Settled, s.Refund)
	if s.Paid > s.Billed {
		t.Fatalf("buyer's final payment %s is more than the %s it was billed", s.Paid, s.Billed)
	}
	if s.Settled > s.Billed+s.Prepay {
		t.Fatalf("buyer paid %s, more than the %s it was billed plus its prepayment window %s", s.Settled, s.Billed, s.Prepay)
	}
	if prepay < 0 && (s.Prepay != 0 || s.Settled > s.Billed) {
		t.Fatalf("buyer without a prepayment (%s) paid %s for a bill of %s", s.Prepay, s.Settled, s.Billed)
	}
	if s.Settled+s.Refund != pay.Nano {
		t.Fatalf("settled %s + refund %s != deposit", s.Settled, s.Refund)
	}
}

// freeUDPPort reserves a loopback UDP port by binding and releasing it.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
