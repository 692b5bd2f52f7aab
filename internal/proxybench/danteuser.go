package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
)

// danteUserName is the system user dante authenticates (its username
// method checks the system password database, not a file of its own).
const danteUserName = "x402bench"

// danteAuth is how dante authenticates in this run.
type danteAuth struct {
	auth       bool
	user, pass string
	created    bool   // the user was created for this run and is removed after
	note       string // for the report
}

// setupDanteUser prepares username/password authentication for dante: as
// root it creates the system user x402bench (no home, no login shell) if
// missing and sets a random password; otherwise dante runs without
// authentication and the note says so.
func setupDanteUser(pass string) danteAuth {
	if os.Geteuid() != 0 {
		return danteAuth{note: "dante ran with socksmethod none (unauthenticated): username auth needs a system user, and this run is not root"}
	}
	d := danteAuth{auth: true, user: danteUserName, pass: pass}
	if _, err := user.Lookup(danteUserName); err != nil {
		out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", danteUserName).CombinedOutput()
		if err != nil {
			return danteAuth{note: fmt.Sprintf("dante ran with socksmethod none (unauthenticated): useradd %s: %v: %s", danteUserName, err, strings.TrimSpace(string(out)))}
		}
		d.created = true
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(danteUserName + ":" + pass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		d.cleanup()
		return danteAuth{note: fmt.Sprintf("dante ran with socksmethod none (unauthenticated): chpasswd: %v: %s", err, strings.TrimSpace(string(out)))}
	}
	d.note = fmt.Sprintf("dante authenticated system user %s (socksmethod username)", danteUserName)
	if d.created {
		d.note += ", created for this run and removed after it"
	}
	return d
}

// cleanup removes the system user if this run created it.
func (d danteAuth) cleanup() {
	if d.created {
		exec.Command("userdel", danteUserName).Run()
	}
}
