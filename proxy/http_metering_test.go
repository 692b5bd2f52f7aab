package proxy

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/x402/x402/meter"
)

// closingBody is a request body whose reader is closed once its bytes are
// read, as the HTTP server's is once the response has started.
type closingBody struct{ r io.Reader }

func (c *closingBody) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if err == io.EOF {
		return n, errors.New("http: invalid Read on closed Body")
	}
	return n, err
}

func (c *closingBody) Close() error { return nil }

// A body of declared length ends with io.EOF once that many bytes are read,
// without reading the source again, so a check read past the end cannot
// fail the upstream request.
func TestMeteredBodyEndsAtItsDeclaredLength(t *testing.T) {
	buyer := meter.New().Buyer("b")
	var counted int64
	body := &meteredBody{rc: &closingBody{r: strings.NewReader("hello")}, ctx: context.Background(), buyer: buyer,
		gate: meter.AllowAll{}, count: func(n int64) { counted += n }, left: 5}
	got, err := io.ReadAll(body)
	if err != nil || string(got) != "hello" || counted != 5 {
		t.Fatalf("read %q, %v, counted %d; want hello, no error, 5", got, err, counted)
	}
	if n, err := body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read past the end: %d, %v; want 0, EOF", n, err)
	}
}
