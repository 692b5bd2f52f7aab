package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/proxy"
)

// dial connects to addr through s's SOCKS5 proxy, or directly for the
// direct baseline.
func (s *server) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if s.proc == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	var auth *proxy.Auth
	if s.user != "" {
		auth = &proxy.Auth{User: s.user, Password: s.pass}
	}
	pd, err := proxy.SOCKS5("tcp", s.socks, auth, d)
	if err != nil {
		return nil, err
	}
	return pd.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
}

// download asks the stream origin for size bytes through s and reads them
// with a 1 MiB buffer.
func (s *server) download(ctx context.Context, origin string, size int64) error {
	c, err := s.dial(ctx, origin)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	// Generous: 30s plus 20 MiB/s.
	c.SetDeadline(time.Now().Add(30*time.Second + time.Duration(size/(20<<20))*time.Second))
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(size))
	if _, err := c.Write(hdr[:]); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	buf := make([]byte, 1<<20)
	var got int64
	for {
		n, err := c.Read(buf)
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", got, size, err)
		}
	}
	if got != size {
		return fmt.Errorf("got %d bytes, want %d", got, size)
	}
	return nil
}

// tunnel opens one tunnel to the idle origin and proves it relays with a
// one-byte echo; the connection is then left idle.
func (s *server) tunnel(ctx context.Context, origin string) (net.Conn, error) {
	c, err := s.dial(ctx, origin)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b := []byte{'x'}
	if _, err := c.Write(b); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, b); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
