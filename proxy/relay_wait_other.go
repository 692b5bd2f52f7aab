//go:build !linux

package proxy

import "net"

// waitReadable returns at once where sockets cannot be peeked portably; the
// relay then takes credit before its source has bytes.
func waitReadable(*net.TCPConn) error { return nil }
