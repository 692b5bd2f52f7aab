package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/x402/x402/pay"
)

// maxAnswer bounds an HTTP answer the client reads.
const maxAnswer = 1 << 20

// httpClient is the Client of a ledger served by NewHTTPHandler.
type httpClient struct {
	base string
	hc   *http.Client
}

// NewHTTPClient returns a Client for the ledger served by NewHTTPHandler at
// baseURL (e.g. "http://127.0.0.1:8402"). It never uses a proxy from the
// environment.
func NewHTTPClient(baseURL string) Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &httpClient{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// do sends one request and decodes a 200 JSON answer into out.
func (c *httpClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("ledger %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ledger %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("ledger %s %s: read answer: %w", method, path, err)
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("ledger %s %s: answer exceeds %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{method: method, path: path, code: resp.StatusCode, text: strings.TrimSpace(string(b))}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("ledger %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// statusError is a non-200 answer.
type statusError struct {
	method, path string
	code         int
	text         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("ledger %s %s: %d %s: %s", e.method, e.path, e.code, http.StatusText(e.code), e.text)
}

// Genesis implements Client.
func (c *httpClient) Genesis(ctx context.Context) (Genesis, error) {
	var g Genesis
	err := c.do(ctx, http.MethodGet, pathGenesis, nil, &g)
	return g, err
}

// Submit implements Client.
func (c *httpClient) Submit(ctx context.Context, tx SignedTx) (Receipt, error) {
	var r Receipt
	err := c.do(ctx, http.MethodPost, pathTx, tx.Marshal(), &r)
	return r, err
}

// Account implements Client.
func (c *httpClient) Account(ctx context.Context, a pay.Account) (AccountState, error) {
	var st AccountState
	if err := c.do(ctx, http.MethodGet, pathAccount+url.PathEscape(a.String()), nil, &st); err != nil {
		return AccountState{}, err
	}
	if st.Balances == nil {
		st.Balances = map[pay.Asset]pay.Amount{}
	}
	return st, nil
}

// Channel implements Client; a 404 wraps ErrUnknownChannel.
func (c *httpClient) Channel(ctx context.Context, id pay.ChannelID) (ChannelState, error) {
	var ch ChannelState
	err := c.do(ctx, http.MethodGet, pathChannel+id.String(), nil, &ch)
	if se, ok := err.(*statusError); ok && se.code == http.StatusNotFound {
		return ChannelState{}, fmt.Errorf("%w: %w", ErrUnknownChannel, err)
	}
	return ch, err
}
