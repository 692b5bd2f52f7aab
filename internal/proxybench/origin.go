package main

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// origins are the loopback servers every proxy relays to.
type origins struct {
	stream   net.Listener // reads an 8-byte big-endian count, writes that many bytes
	idle     net.Listener // echoes one byte, then holds the connection until EOF
	http     *http.Server
	httpL    net.Listener
	httpNew  atomic.Int64 // HTTP connections accepted
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
	closing  bool
	bodySize int
}

func startOrigins(bodySize int) (*origins, error) {
	o := &origins{conns: map[net.Conn]bool{}, bodySize: bodySize}
	var err error
	listen := func() net.Listener {
		if err != nil {
			return nil
		}
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		return l
	}
	o.stream, o.idle, o.httpL = listen(), listen(), listen()
	if err != nil {
		o.close()
		return nil, err
	}
	o.serve(o.stream, o.streamConn)
	o.serve(o.idle, o.idleConn)
	body := make([]byte, bodySize)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	o.http = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				o.httpNew.Add(1)
			}
		},
	}
	o.wg.Add(1)
	go func() { defer o.wg.Done(); o.http.Serve(o.httpL) }()
	return o, nil
}

func (o *origins) streamAddr() string { return o.stream.Addr().String() }
func (o *origins) idleAddr() string   { return o.idle.Addr().String() }
func (o *origins) httpAddr() string   { return o.httpL.Addr().String() }

// serve accepts on l, handling each connection in a tracked goroutine.
func (o *origins) serve(l net.Listener, handle func(net.Conn)) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			if o.closing {
				o.mu.Unlock()
				c.Close()
				return
			}
			o.conns[c] = true
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				handle(c)
				o.mu.Lock()
				delete(o.conns, c)
				o.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

// streamConn writes the requested number of bytes from a 1 MiB buffer.
func (o *origins) streamConn(c net.Conn) {
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := int64(binary.BigEndian.Uint64(hdr[:]))
	buf := make([]byte, 1<<20)
	for n > 0 {
		w := min(n, int64(len(buf)))
		if _, err := c.Write(buf[:w]); err != nil {
			return
		}
		n -= w
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// idleConn echoes one byte (proving the tunnel relays) and then waits for
// the client to close.
func (o *origins) idleConn(c net.Conn) {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return
	}
	if _, err := c.Write(b[:]); err != nil {
		return
	}
	io.Copy(io.Discard, c)
}

// close stops all origins and their connections.
func (o *origins) close() {
	o.mu.Lock()
	o.closing = true
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	for _, l := range []net.Listener{o.stream, o.idle} {
		if l != nil {
			l.Close()
		}
	}
	if o.http != nil {
		o.http.Close()
	} else if o.httpL != nil {
		o.httpL.Close()
	}
	o.wg.Wait()
}
