package proxy

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/x402/x402/meter"
)

// meteredBody counts a request or response body as it is read, asking the
// credit gate before each read.
type meteredBody struct {
	rc      io.ReadCloser
	ctx     context.Context
	buyer   *meter.Buyer
	gate    meter.Gate
	count   func(int64)
	onClose func()
	// left is what remains of a body of declared length, or -1. Once it
	// is read, Read reports io.EOF without touching rc: http.Transport
	// reads once more past a request's Content-Length to check it, and by
	// then the origin may have answered and goproxy started the response,
	// which makes the server close the incoming body. That read would fail,
	// fail the upstream request after its response arrived, and cut the
	// response short.
	left int64
	// abort makes a failed read abort the HTTP handler it runs in (a
	// response body, copied to the client by goproxy's handler): the
	// client then sees an interrupted answer, not a whole one that is
	// short, which goproxy would send for a read error.
	abort bool
}

func (m *meteredBody) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	want := int64(len(b))
	if m.left >= 0 {
		if m.left == 0 {
			return 0, io.EOF
		}
		want = min(want, m.left)
	}
	granted, err := m.gate.Acquire(m.ctx, m.buyer, want)
	if err != nil {
		return 0, m.fail(err)
	}
	n, err := m.rc.Read(b[:granted])
	m.count(int64(n))
	m.gate.Release(m.buyer, granted, int64(n))
	if err != nil && err != io.EOF {
		return n, m.fail(err)
	}
	if m.left >= 0 {
		m.left -= int64(n)
		if m.left == 0 && err == nil {
			err = io.EOF
		}
	}
	return n, err
}

// fail returns err, or aborts the handler (see abort).
func (m *meteredBody) fail(err error) error {
	if m.abort {
		panic(http.ErrAbortHandler)
	}
	return err
}

func (m *meteredBody) Close() error {
	err := m.rc.Close()
	if m.onClose != nil {
		m.onClose()
	}
	return err
}

// countWriter counts what is written to it.
type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) { *c += countWriter(len(b)); return len(b), nil }

// requestHeadSize is the size of r's head as sent upstream: request line,
// Host, headers and the blank line.
func requestHeadSize(r *http.Request) int64 {
	var c countWriter
	r.Header.Write(&c)
	line := len(r.Method) + 1 + len(r.URL.RequestURI()) + 1 + len("HTTP/1.1") + 2
	host := len("Host: ") + len(r.Host) + 2
	return int64(line+host+2) + int64(c)
}

// responseHeadSize is the size of resp's head: status line, headers and the
// blank line.
func responseHeadSize(resp *http.Response) int64 {
	var c countWriter
	resp.Header.Write(&c)
	line := len("HTTP/1.1 ") + len(strconv.Itoa(resp.StatusCode)) + 1 + len(http.StatusText(resp.StatusCode)) + 2
	return int64(line+2) + int64(c)
}
