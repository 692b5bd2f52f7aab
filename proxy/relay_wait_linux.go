package proxy

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// waitReadable blocks until c has bytes (or EOF, or an error) to read,
// without reading them, honouring c's read deadline: a peek on the socket,
// retried by the runtime's poller whenever the socket becomes readable.
func waitReadable(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var peekErr error
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, e := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if errors.Is(e, unix.EAGAIN) || errors.Is(e, unix.EINTR) {
			return false
		}
		peekErr = e // nil also for EOF: the copy that follows sees it
		return true
	})
	if err != nil {
		return err
	}
	return peekErr
}
