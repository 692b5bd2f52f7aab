package main

import (
	"encoding/hex"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/sim"
)

// initTestLedger serves a fresh single-node ledger on loopback.
func initTestLedger(t *testing.T) (*ledger.Sequencer, ledger.Genesis, string) {
	t.Helper()
	var fee pay.Account
	fee[0] = 1
	g := ledger.Genesis{Chain: "x402-init-test", FeePPM: 10, FeeAccount: fee, MinChallenge: time.Second, MaxChallenge: time.Hour, RequireSIMForSellers: true}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	seq := ledger.NewSequencer(l, nil)
	srv := httptest.NewServer(ledger.NewHTTPHandler(seq))
	t.Cleanup(srv.Close)
	return seq, g, srv.URL
}

var accountLine = regexp.MustCompile(`(?m)^account  (x402_\S+)`)

func initAccount(t *testing.T, out string) pay.Account {
	t.Helper()
	m := accountLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no account in the output:\n%s", out)
	}
	a, err := pay.ParseAccount(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestInitRegistersIdentity runs `x402 init` against a ledger served in
// this process with a configured identity (the PC/SC path is tested in
// package sim, which owns vpcd's ports): the first account binds the
// identity, a second key for the same SIM is refused and leaves nothing
// behind, and an explicit --register on the first directory reports the
// existing binding.
func TestInitRegistersIdentity(t *testing.T) {
	seq, _, url := initTestLedger(t)
	const imsi, iccid = "262011106487504", "8949020000123456789"
	keyHex := hex.EncodeToString([]byte("x402-init-test-commitment-key"))
	dir1 := filepath.Join(t.TempDir(), "one")
	out, err := x402(t, "init", "--dir", dir1, "--imsi", imsi, "--iccid", iccid, "--commitment-key", keyHex, "--ledger", url)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	acct := initAccount(t, out)
	com, _ := sim.CommitIMSI([]byte("x402-init-test-commitment-key"), imsi)
	for _, want := range []string{
		"sim      IMSI " + sim.MaskIMSI(imsi), "(configured, not SIM-anchored)",
		"binding  " + acct.String() + ` bound on ledger "x402-init-test" to IMSI commitment ` + com.String(),
		"MCC/MNC 262/01, config, not SIM-anchored",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, imsi) || strings.Contains(out, iccid) {
		t.Errorf("init printed the IMSI or ICCID in full:\n%s", out)
	}
	b, ok, err := seq.Binding(t.Context(), acct)
	if err != nil || !ok || b.IMSICommitment != com || b.SIMAnchored() {
		t.Fatalf("ledger binding %+v, %v, %v", b, ok, err)
	}

	// Another key for the same SIM.
	dir2 := filepath.Join(t.TempDir(), "two")
	out, err = x402(t, "init", "--dir", dir2, "--imsi", imsi, "--iccid", iccid, "--commitment-key", keyHex, "--ledger", url)
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || !strings.Contains(out, "IMSI commitment "+com.String()+" already bound to account "+acct.String()) {
		t.Fatalf("second init with the same SIM: %v\n%s", err, out)
	}
	for _, name := range []string{"node.key", "x402.toml"} {
		if _, err := os.Stat(filepath.Join(dir2, name)); !os.IsNotExist(err) {
			t.Errorf("refused init left %s behind: %v", name, err)
		}
	}

	// Registering the first directory's key again reports its binding.
	out, err = x402(t, "init", "--dir", dir1, "--register", "--imsi", imsi, "--iccid", iccid, "--commitment-key", keyHex, "--ledger", url)
	if err != nil || !strings.Contains(out, "binding  already registered") || !strings.Contains(out, "key      "+filepath.Join(dir1, "node.key")+" (existing)") {
		t.Fatalf("re-register: %v\n%s", err, out)
	}

	// An existing key gets registered with an explicit --register.
	dir3 := filepath.Join(t.TempDir(), "three")
	if out, err := x402(t, "init", "--dir", dir3, "--no-sim", "--ledger", url); err != nil || !strings.Contains(out, "binding  not registered: no SIM identity") {
		t.Fatalf("init --no-sim: %v\n%s", err, out)
	}
	out, err = x402(t, "init", "--dir", dir3, "--register", "--imsi", "310260123456789", "--iccid", "8901260123456789012", "--commitment-key", keyHex, "--ledger", url)
	if err != nil || !strings.Contains(out, "MCC/MNC 310/260") {
		t.Fatalf("register an existing key: %v\n%s", err, out)
	}
	// ...but not to a second SIM.
	out, err = x402(t, "init", "--dir", dir3, "--register", "--imsi", "208150000000042", "--iccid", "8933150000000000042", "--commitment-key", keyHex, "--ledger", url)
	if err == nil || !strings.Contains(out, "already bound to another SIM") {
		t.Fatalf("register a bound key to a second SIM: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir3, "node.key")); err != nil {
		t.Fatalf("a refused registration of an existing key removed it: %v", err)
	}
}

func TestInitIdentityFlagErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--register"}, "--register needs --ledger URL", 2},
		{[]string{"--pcsc", "a", "--modem", "/dev/null"}, "give --pcsc or --modem, not both", 2},
		{[]string{"--imsi", "262011106487504"}, "needs both --imsi and --iccid", 2},
		{[]string{"--no-sim", "--sim"}, "--no-sim excludes", 2},
		{[]string{"--commitment-key", "abc"}, "--commitment-key", 2},
		{[]string{"--commitment-key", "00ff"}, "want at least 16", 2},
		{[]string{"--imsi", "262011106487504", "--iccid", "8949020000123456789", "--ledger", "http://127.0.0.1:1"}, "needs the network's --commitment-key", 2},
		{[]string{"--imsi", "26201", "--iccid", "8949020000123456789"}, "IMSI must be", 1},
		{[]string{"--imsi", "262011106487504", "--iccid", "8949020000123456789", "--ledger", "http://127.0.0.1:1", "--commitment-key", hex.EncodeToString(make([]byte, 16))}, "init: ledger http://127.0.0.1:1", 1},
	} {
		out, err := x402(t, append([]string{"init", "--dir", dir}, tc.args...)...)
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("init %q: %v, want exit %d mentioning %q\n%s", tc.args, err, tc.code, tc.want, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "node.key")); !os.IsNotExist(err) {
			t.Fatalf("init %q wrote a key: %v", tc.args, err)
		}
	}
}
