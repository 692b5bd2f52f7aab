//go:build linux

package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portHolder is another process that has a device open.
type portHolder struct {
	pid  int
	comm string
}

func (h portHolder) String() string { return fmt.Sprintf("pid %d (%s)", h.pid, h.comm) }

// otherHolders lists the processes other than this one with path open, as
// far as /proc shows them (without root, only this user's processes).
// ModemManager keeps the AT ports of the modems it manages open, and does
// not honour locks, so this is how we learn that it is there.
func otherHolders(path string) []portHolder {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []portHolder
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue // gone, or not ours to see
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); err == nil && l == target {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				out = append(out, portHolder{pid: pid, comm: strings.TrimSpace(string(comm))})
				break
			}
		}
	}
	return out
}
