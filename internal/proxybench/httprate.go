package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// httpRound is one run of the fixed number of small requests.
type httpRound struct {
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"requests_per_s"`
	CPUMicrosReq float64 `json:"proxy_cpu_us_per_request"` // 0 for direct
	ClientConns  int64   `json:"client_conns"`             // connections the clients opened
	OriginConns  int64   `json:"origin_conns"`             // connections the origin accepted
}

// httpClient is a keep-alive client of s's HTTP proxy (or of the origin
// directly) that counts the connections it opens.
func (s *server) httpClient(clients int, dials *atomic.Int64) (*http.Client, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	if s.proc != nil {
		u, err := url.Parse("http://" + s.http)
		if err != nil {
			return nil, err
		}
		u.User = url.UserPassword(s.user, s.pass)
		tr.Proxy = http.ProxyURL(u)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// requests sends n GETs from the given number of concurrent clients and
// checks each response's status and body length.
func (b *bench) requests(ctx context.Context, c *http.Client, n, clients int) error {
	u := "http://" + b.org.httpAddr() + "/small"
	var next atomic.Int64
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if err := b.get(ctx, c, u); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func (b *bench) get(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != int64(b.opts.body) {
		return fmt.Errorf("GET %s: %s with %d bytes, want 200 with %d", u, resp.Status, n, b.opts.body)
	}
	return nil
}

// httpRun warms up with one request per client and then measures
// b.opts.requests requests.
func (b *bench) httpRun(ctx context.Context, s *server) (httpRound, error) {
	var dials atomic.Int64
	c, err := s.httpClient(b.opts.clients, &dials)
	if err != nil {
		return httpRound{}, err
	}
	defer c.CloseIdleConnections()
	if err := b.requests(ctx, c, b.opts.clients, b.opts.clients); err != nil {
		return httpRound{}, fmt.Errorf("warm-up: %w", err)
	}
	cpu0, err := s.cpu()
	if err != nil {
		return httpRound{}, err
	}
	dials0, origin0 := dials.Load(), b.org.httpNew.Load()
	t0 := time.Now()
	if err := b.requests(ctx, c, b.opts.requests, b.opts.clients); err != nil {
		return httpRound{}, err
	}
	el := time.Since(t0)
	cpu1, err := s.cpu()
	if err != nil {
		return httpRound{}, err
	}
	return httpRound{
		Seconds:      el.Seconds(),
		RPS:          float64(b.opts.requests) / el.Seconds(),
		CPUMicrosReq: float64((cpu1 - cpu0).Microseconds()) / float64(b.opts.requests),
		ClientConns:  dials.Load() - dials0,
		OriginConns:  b.org.httpNew.Load() - origin0,
	}, nil
}
