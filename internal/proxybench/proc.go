package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process this harness started, leader of its own process
// group so that a forking proxy (dante) is measured and stopped as a whole.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// running holds every started process until it is stopped, so that an
// error or a signal anywhere still ends them all (stopAll).
var running struct {
	sync.Mutex
	procs []*proc
}

// startProc runs argv with stdout and stderr appended to logPath.
func startProc(name, logPath string, env []string, argv ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Own process group; killed with us if this harness dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	running.Lock()
	running.procs = append(running.procs, p)
	running.Unlock()
	return p, nil
}

// pgid is the process group of p (its own pid).
func (p *proc) pgid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to p's group, SIGKILL after 5s, waits for the leader
// and then kills whatever is left of the group.
func (p *proc) stop() {
	pg := p.pgid()
	if !p.exited() {
		syscall.Kill(-pg, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pg, syscall.SIGKILL)
			<-p.done
		}
	}
	// Children of a forking server may outlive its leader; the group id
	// stays reserved while any of them lives, so this reaches only them.
	if len(groupPids(pg)) > 0 {
		syscall.Kill(-pg, syscall.SIGKILL)
	}
	running.Lock()
	for i, q := range running.procs {
		if q == p {
			running.procs = append(running.procs[:i], running.procs[i+1:]...)
			break
		}
	}
	running.Unlock()
}

// stopAll stops every process still running.
func stopAll() {
	running.Lock()
	ps := append([]*proc(nil), running.procs...)
	running.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// waitPorts polls until every addr accepts a TCP connection, p exits, or
// the deadline passes.
func (p *proc) waitPorts(ctx context.Context, timeout time.Duration, addrs ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range addrs {
		for {
			c, err := (&net.Dialer{Timeout: 200 * time.Millisecond}).DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if p.exited() {
				return fmt.Errorf("%s exited before listening on %s (%v): %s", p.name, addr, p.waitErr, p.logTail())
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %s did not accept within %s: %s", p.name, addr, timeout, p.logTail())
			case <-tick.C:
			}
		}
	}
	return nil
}

// logTail is the end of p's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

// errNotRunning reports a proxy that died during a measurement.
var errNotRunning = errors.New("proxy process is not running")

func (p *proc) check() error {
	if p.exited() {
		return fmt.Errorf("%s: %w (%v): %s", p.name, errNotRunning, p.waitErr, p.logTail())
	}
	return nil
}
