// Package testenv owns the tests' access to system components: it finds a
// tool, installs its Debian package when running as root, and otherwise fails
// under CI (CI=true) or skips with the component's name elsewhere. A test
// never passes silently without the component it needs.
package testenv

import (
	"os"
	"os/exec"
	"sync"
	"testing"
)

// aptMu serialises installs within one test binary.
var aptMu sync.Mutex

// RequireTool returns the path of binary, installing Debian package pkg if
// it is missing and the test runs as root.
func RequireTool(t testing.TB, binary, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(binary); err == nil {
		return p
	}
	if os.Geteuid() == 0 {
		aptMu.Lock()
		out, err := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput()
		if err != nil {
			// The package lists may be missing on a fresh machine.
			if upd, uerr := exec.Command("apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
				out = append(out, upd...)
			} else {
				out, err = exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput()
			}
		}
		aptMu.Unlock()
		if err == nil {
			if p, err := exec.LookPath(binary); err == nil {
				return p
			}
		}
		t.Logf("apt-get install %s: %v\n%s", pkg, err, out)
	}
	Missing(t, binary+" (Debian package "+pkg+")")
	return ""
}

// Missing fails the test under CI and skips it elsewhere, naming what is
// missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("required system component missing under CI: %s", what)
	}
	t.Skipf("system component missing: %s (install it, or run as root to install it)", what)
}
