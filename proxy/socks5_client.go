package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// socksReplyText names RFC 1928 reply codes.
var socksReplyText = map[byte]string{
	1: "general failure", 2: "not allowed by the proxy's policy", 3: "network unreachable",
	4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported",
	8: "address type not supported",
}

// DialSOCKS5 opens a tunnel to host:port through the SOCKS5 proxy at
// proxyAddr with username/password authentication, and returns the bare TCP
// connection with the handshake complete (so a relay can splice it). host is
// sent as a name unless it is an IP literal, so the proxy resolves it.
func DialSOCKS5(ctx context.Context, proxyAddr, user, pass, host string, port uint16) (*net.TCPConn, error) {
	if len(user) > 255 || len(pass) > 255 || len(host) > 255 {
		return nil, errors.New("socks5: user, password and host must be at most 255 bytes")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("socks5 proxy %s: %w", proxyAddr, err)
	}
	tc := c.(*net.TCPConn)
	if err := socks5Handshake(ctx, tc, user, pass, host, port); err != nil {
		tc.Close()
		return nil, fmt.Errorf("socks5 proxy %s to %s: %w", proxyAddr, net.JoinHostPort(host, fmt.Sprint(port)), err)
	}
	return tc, nil
}

func socks5Handshake(ctx context.Context, c *net.TCPConn, user, pass, host string, port uint16) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})

	req := []byte{5, 1, 2, 1, byte(len(user))}
	req = append(append(req, user...), byte(len(pass)))
	req = append(append(req, pass...), 5, 1, 0)
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().Is4() {
		a := ip.Unmap().As4()
		req = append(append(req, 1), a[:]...)
	} else if err == nil {
		a := ip.As16()
		req = append(append(req, 4), a[:]...)
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := c.Write(req); err != nil {
		return err
	}
	var buf [4]byte
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return fmt.Errorf("read method selection: %w", err)
	}
	if buf[0] != 5 || buf[1] != 2 {
		return fmt.Errorf("proxy refused username/password authentication (method %#x)", buf[1])
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return fmt.Errorf("read authentication status: %w", err)
	}
	if buf[1] != 0 {
		return errors.New("authentication failed")
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if buf[1] != 0 {
		text := socksReplyText[buf[1]]
		if text == "" {
			text = "unknown error"
		}
		return fmt.Errorf("%s (reply %#x)", text, buf[1])
	}
	var skip int
	switch buf[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		skip = int(buf[0]) + 2
	default:
		return fmt.Errorf("reply with unknown address type %#x", buf[3])
	}
	if _, err := io.ReadFull(c, make([]byte, skip)); err != nil {
		return fmt.Errorf("read reply address: %w", err)
	}
	return nil
}
