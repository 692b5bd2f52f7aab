package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

func TestLedgerInitWritesPrivateGenesisAndRefusesBadInput(t *testing.T) {
	env := cleanEnv(t)
	dir := filepath.Join(t.TempDir(), "ledger")
	var init ledgerInitJSON
	mustJSON(t, &init, env, "ledger", "init", "--dir", dir, "--json", "--chain", "test-chain", "--fee-ppm", "25")
	if init.Chain != "test-chain" || init.FeePPM != 25 || init.Faucet != "100 USD" || !strings.HasPrefix(init.FeeAccount, "x402_") {
		t.Fatalf("ledger init: %+v", init)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, init.Genesis: 0o600, init.IssuerKey: 0o600, init.FeeKey: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	simDir := filepath.Join(t.TempDir(), "sim-ledger")
	var simInit ledgerInitJSON
	mustJSON(t, &simInit, env, "ledger", "init", "--dir", simDir, "--json", "--require-sim")
	if g, err := ledger.LoadGenesis(simInit.Genesis); err != nil || !g.RequireSIMForSellers {
		t.Fatalf("ledger init --require-sim wrote %+v, %v", g, err)
	}
	if r := cli(t, env, "ledger", "init", "--dir", dir); r.code != 1 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("second ledger init: exit %d\n%s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"ledger"},
		{"ledger", "frob"},
		{"ledger", "init"},
		{"ledger", "init", "--dir", t.TempDir(), "--faucet", "1 EUR"},
		{"ledger", "init", "--dir", t.TempDir(), "--alloc", "nobody=1 USD"},
		{"ledger", "init", "--dir", t.TempDir(), "--min-challenge", "1h", "--max-challenge", "1m"},
		{"ledger", "serve"},
		{"wallet", "balance", "--key", "k", "--account", init.FeeAccount},
		{"channel", "open", "--deposit", "1 USD"},
		{"channel", "open", "--seller", init.FeeAccount, "--deposit", "0.5"},
		{"channel", "close"},
		{"buy", "--seller", init.FeeAccount, "--deposit", "1 USD", "--max-price", "1 USD"},
		{"buy", "--seller", init.FeeAccount + "@127.0.0.1:1", "--deposit", "1 X402", "--max-price", "1 USD"},
	} {
		if r := cli(t, env, args...); r.code != 2 {
			t.Errorf("x402 %s: exit %d, want 2 (usage)\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestWalletAndChannelsAgainstServedLedger runs a real `x402 ledger serve`
// and drives it with wallet and channel commands, checking exact balances.
func TestWalletAndChannelsAgainstServedLedger(t *testing.T) {
	env := cleanEnv(t)
	l := startLedger(t, env)
	env = append(env, "X402_LEDGER="+l.url) // the default for --ledger

	// The default wallet lives under $HOME, 0600 in a 0700 directory.
	home := envValue(env, "HOME")
	buyer := strings.TrimSpace(mustCLI(t, env, "wallet", "new"))
	if !strings.HasPrefix(buyer, "x402_") {
		t.Fatalf("wallet new printed %q", buyer)
	}
	keyPath := filepath.Join(home, ".config", "x402", "wallet.key")
	for p, want := range map[string]os.FileMode{filepath.Dir(keyPath): 0o700, keyPath: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, %v; want mode %v", p, fi, err, want)
		}
	}
	if r := cli(t, env, "wallet", "new"); r.code != 1 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("second wallet new: exit %d\n%s", r.code, r.stderr)
	}
	if got := strings.TrimSpace(mustCLI(t, env, "wallet", "show")); got != buyer {
		t.Fatalf("wallet show = %q, want %q", got, buyer)
	}
	sellerKey := filepath.Join(t.TempDir(), "seller.key")
	seller := strings.TrimSpace(mustCLI(t, append(env, "X402_WALLET="+sellerKey), "wallet", "new"))

	var b balanceJSON
	mustJSON(t, &b, env, "wallet", "balance", "--json")
	if b.Account != buyer || b.Nonce != 0 || len(b.BalancesNano) != 0 {
		t.Fatalf("balance before the faucet: %+v", b)
	}
	if out := mustCLI(t, env, "wallet", "faucet"); !strings.Contains(out, "received 100 USD") {
		t.Fatalf("wallet faucet: %s", out)
	}
	if r := cli(t, env, "wallet", "faucet"); r.code != 1 || !strings.Contains(r.stderr, "already used the USD faucet") {
		t.Fatalf("second faucet: exit %d\n%s", r.code, r.stderr)
	}
	if out := mustCLI(t, env, "wallet", "balance"); !strings.Contains(out, "balance  100 USD") || !strings.Contains(out, "nonce    1") {
		t.Fatalf("wallet balance:\n%s", out)
	}

	var ch1 channelJSON
	mustJSON(t, &ch1, env, "channel", "open", "--seller", seller, "--deposit", "1.5 USD", "--challenge", "1s", "--json")
	if ch1.Seller != seller || ch1.Deposit != "1.5 USD" || ch1.DepositNano != 1_500_000_000 || ch1.Status != "open" {
		t.Fatalf("channel open: %+v", ch1)
	}
	ch2 := strings.TrimSpace(mustCLI(t, env, "channel", "open", "--seller", seller, "--deposit", "0.000000001 USD", "--challenge", "1s"))
	if _, err := pay.ParseChannelID(ch2); err != nil {
		t.Fatalf("channel open printed %q: %v", ch2, err)
	}
	if got := balanceOf(t, env, l.url, buyer, "USD"); got != 100*pay.Nano-1_500_000_001 {
		t.Fatalf("buyer balance after two opens: %d nano", got)
	}
	if r := cli(t, env, "channel", "open", "--seller", seller, "--deposit", "1000 USD"); r.code != 1 || !strings.Contains(r.stderr, "rejected") {
		t.Fatalf("overdrawn open: exit %d\n%s", r.code, r.stderr)
	}

	var list []channelJSON
	mustJSON(t, &list, env, "channel", "list", "--json")
	if len(list) != 2 || list[0].Channel != ch1.Channel || list[1].Channel != ch2 || list[1].Deposit != "0.000000001 USD" {
		t.Fatalf("channel list: %+v", list)
	}
	if out := mustCLI(t, env, "channel", "close", "--id", ch1.Channel); !strings.Contains(out, "is closing") {
		t.Fatalf("channel close: %s", out)
	}
	if out := mustCLI(t, env, "channel", "list"); !strings.Contains(out, ch1.Channel) || !strings.Contains(out, "closing") {
		t.Fatalf("channel list after close:\n%s", out)
	}
	for _, c := range []struct{ id, refund string }{{ch1.Channel, "1.5 USD"}, {ch2, "0.000000001 USD"}} {
		if out := mustCLI(t, env, "channel", "close", "--id", c.id, "--finalize"); !strings.Contains(out, "refund   "+c.refund) {
			t.Fatalf("channel close --finalize %s:\n%s", c.id, out)
		}
	}
	if got := balanceOf(t, env, l.url, buyer, "USD"); got != 100*pay.Nano {
		t.Fatalf("buyer balance after refunds: %d nano, want all 100 USD back", got)
	}
	mustJSON(t, &list, env, "channel", "list", "--json")
	if len(list) != 2 || list[0].Status != "settled" || list[1].Status != "settled" || list[0].RefundNano != 1_500_000_000 {
		t.Fatalf("channel list after settling: %+v", list)
	}
	if got := balanceOf(t, env, l.url, seller, "USD"); got != 0 {
		t.Fatalf("seller balance %d nano, want 0", got)
	}
	l.proc.stop(t, syscall.SIGINT)
	if !strings.Contains(l.proc.stderr.String(), "ledger stopped") {
		t.Fatalf("ledger logs lack a clean stop:\n%s", l.proc.stderr.String())
	}
}

func TestLedgerAllocationsAndNoFaucet(t *testing.T) {
	env := cleanEnv(t)
	key := filepath.Join(t.TempDir(), "w.key")
	acc := strings.TrimSpace(mustCLI(t, env, "wallet", "new", "--key", key))
	l := startLedger(t, env, "--faucet", "", "--alloc", acc+"=2.5 USD", "--alloc", acc+"=7 X402")
	var b balanceJSON
	mustJSON(t, &b, env, "wallet", "balance", "--key", key, "--ledger", l.url, "--json")
	if b.Balances["USD"] != "2.5 USD" || b.BalancesNano["X402"] != 7*pay.Nano {
		t.Fatalf("allocated balances: %+v", b)
	}
	r := cli(t, env, "wallet", "faucet", "--key", key, "--ledger", l.url)
	if r.code != 1 || !strings.Contains(r.stderr, "this ledger has no faucet") {
		t.Fatalf("faucet on a ledger without one: exit %d\n%s", r.code, r.stderr)
	}
	// With the ledger stopped, the error says where it looked.
	l.proc.stop(t, syscall.SIGTERM)
	r = cli(t, env, "wallet", "faucet", "--key", key, "--ledger", l.url)
	if r.code != 1 || !strings.Contains(r.stderr, l.url) || !strings.Contains(r.stderr, "is it running") {
		t.Fatalf("faucet with the ledger stopped: exit %d\n%s", r.code, r.stderr)
	}
}
