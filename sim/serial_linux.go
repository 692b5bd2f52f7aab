//go:build linux

package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pollSlice bounds one poll(2) wait so cancellation of ctx is noticed
// promptly.
const pollSlice = 50 * time.Millisecond

// serialPort is a modem's AT port opened non-blocking; reads and writes wait
// with poll(2), so deadlines work on ttys and on character devices the Go
// runtime poller does not support (cdc-wdm).
type serialPort struct {
	fd   int
	path string
	excl bool // TIOCEXCL is set, to be cleared on Close
}

// openSerial opens path read-write without making it the controlling tty,
// for this process alone: it refuses a port another process has open
// (ModemManager, a terminal program), takes an exclusive flock(2) that
// other instances of x402 honour, and sets TIOCEXCL on a tty so that
// unprivileged programs cannot open it meanwhile. It puts a tty into raw
// mode (no echo, no line editing, no CR/NL translation, 8 bits).
func openSerial(path string) (*serialPort, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("open %s: %w: another x402 holds its lock", path, ErrPortBusy)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if others := otherHolders(path); len(others) > 0 {
		unix.Close(fd)
		names := make([]string, len(others))
		for i, h := range others {
			names[i] = h.String()
		}
		return nil, fmt.Errorf("open %s: %w: %s; stop it (for ModemManager: systemctl stop ModemManager) or use another AT port", path, ErrPortBusy, strings.Join(names, ", "))
	}
	p := &serialPort{fd: fd, path: path}
	if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		p.excl = unix.IoctlSetInt(fd, unix.TIOCEXCL, 0) == nil
		makeRaw(t)
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("set raw mode on %s: %w", path, err)
		}
	}
	return p, nil
}

// makeRaw applies cfmakeraw(3) to t.
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}

// Close gives up exclusive use and closes the port.
func (p *serialPort) Close() error {
	if p.excl {
		_ = unix.IoctlSetInt(p.fd, unix.TIOCNXCL, 0)
	}
	return unix.Close(p.fd)
}

// wait polls for events until deadline or ctx ends; it reports whether the
// port became ready.
func (p *serialPort) wait(ctx context.Context, events int16, deadline time.Time) (bool, error) {
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: events}}
		n, err := unix.Poll(fds, int(min(left, pollSlice).Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll %s: %w", p.path, err)
		}
		if n > 0 {
			if fds[0].Revents&unix.POLLNVAL != 0 {
				return false, fmt.Errorf("poll %s: invalid descriptor", p.path)
			}
			return true, nil
		}
	}
}

// read reads available bytes, waiting until deadline. It returns 0 and nil
// when the deadline passes with nothing to read.
func (p *serialPort) read(ctx context.Context, buf []byte, deadline time.Time) (int, error) {
	for {
		ready, err := p.wait(ctx, unix.POLLIN, deadline)
		if err != nil || !ready {
			return 0, err
		}
		n, err := unix.Read(p.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EIO):
			return 0, fmt.Errorf("read %s: port hung up: %w", p.path, err)
		case err != nil:
			return 0, fmt.Errorf("read %s: %w", p.path, err)
		case n == 0:
			return 0, fmt.Errorf("read %s: port closed", p.path)
		}
		return n, nil
	}
}

// write writes all of b before deadline.
func (p *serialPort) write(ctx context.Context, b []byte, deadline time.Time) error {
	for len(b) > 0 {
		n, err := unix.Write(p.fd, b)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			ready, werr := p.wait(ctx, unix.POLLOUT, deadline)
			if werr != nil {
				return werr
			}
			if !ready {
				return fmt.Errorf("write %s: %w", p.path, ErrTimeout)
			}
			continue
		case err != nil:
			return fmt.Errorf("write %s: %w", p.path, err)
		}
		b = b[n:]
	}
	return nil
}
