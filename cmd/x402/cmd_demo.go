package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/node"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// demoEndpoints is what `x402 demo --hold --json` prints when ready.
type demoEndpoints struct {
	SOCKS5    string `json:"socks5"`
	HTTP      string `json:"http"`
	Admin     string `json:"admin"`
	Origin    string `json:"origin"`
	OriginTLS string `json:"origin_tls"`
	StateDir  string `json:"state_dir"`
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	hold := fs.Bool("hold", false, "serve until SIGINT/SIGTERM instead of exiting after the fetches")
	asJSON := fs.Bool("json", false, "print machine-readable JSON on stdout")
	var allow stringList
	fs.Var(&allow, "allow", "extra egress allow entry HOST:PORT or CIDR:PORT (repeatable)")
	size := fs.Int64("size", 4<<20, "bytes to fetch through each proxy")
	stateDir := fs.String("state", "", "state directory (default: a temporary one, removed on exit)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if *stateDir == "" {
		dir, err := os.MkdirTemp("", "x402-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(dir)
		*stateDir = dir
	}

	org, err := startOrigin()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer org.close()

	password, err := randomHex(12)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg := node.DefaultConfig()
	cfg.Node.StateDir = *stateDir
	cfg.Proxy.SOCKS5Listen = "127.0.0.1:0"
	cfg.Proxy.HTTPListen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	// The demo allows only its own origin (plus --allow): everything else on
	// loopback, including this node's admin port, stays denied.
	cfg.Egress.DefaultDeny = true
	cfg.Egress.Allow = append([]string{org.plain.Addr().String(), org.tls.Addr().String()}, allow...)
	cfg.Buyers = []node.BuyerEntry{{ID: "demo-agent", User: "demo", Password: password}}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	n, err := node.Start(cfg, node.Options{Version: version, Logger: log})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(sctx)
	}()

	addrs := n.Addrs()
	ep := demoEndpoints{
		SOCKS5:    "socks5h://demo:" + password + "@" + addrs.SOCKS5,
		HTTP:      "http://demo:" + password + "@" + addrs.HTTP,
		Admin:     "http://" + addrs.Admin,
		Origin:    org.plainURL(),
		OriginTLS: org.tlsURL(),
		StateDir:  *stateDir,
	}
	if *hold {
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(ep); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(stdout, "x402 demo is up; Ctrl-C stops it.\n\n  SOCKS5  %s\n  HTTP    %s\n  admin   %s\n  origin  %s  (and %s)\n\nTry: curl --socks5-hostname %s -o /dev/null %s/bytes/1048576\n",
				ep.SOCKS5, ep.HTTP, ep.Admin, ep.Origin, ep.OriginTLS, strings.TrimPrefix(ep.SOCKS5, "socks5h://"), ep.Origin)
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-n.Errors():
			return err
		}
	}

	results, err := demoFetches(ctx, ep, org, *size)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	usage := settledUsage(n.Meter().Buyer("demo-agent"))
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			demoEndpoints
			Fetches []fetchResult `json:"fetches"`
			Meter   meter.Usage   `json:"meter"`
		}{ep, results, usage})
	}
	fmt.Fprintf(stdout, "x402 demo: origin %s, node socks5 %s http %s\n\n", ep.Origin, addrs.SOCKS5, addrs.HTTP)
	for _, r := range results {
		fmt.Fprintf(stdout, "  %-22s %10s  sha256 ok  %s\n", r.Via, humanBytes(uint64(r.Bytes)), r.Elapsed)
	}
	fmt.Fprintf(stdout, "\nmetered for buyer %s: up %s, down %s, %d connections\n",
		usage.ID, humanBytes(usage.BytesUp), humanBytes(usage.BytesDown), usage.TotalConns)
	return nil
}

// fetchResult is one download through one front end.
type fetchResult struct {
	Via     string `json:"via"`
	Bytes   int64  `json:"bytes"`
	Elapsed string `json:"elapsed"`
}

// demoFetches downloads size bytes through each front end and checks them
// against the origin's payload.
func demoFetches(ctx context.Context, ep demoEndpoints, org *origin, size int64) ([]fetchResult, error) {
	want := sha256.New()
	io.Copy(want, io.LimitReader(&payloadReader{}, size))
	wantSum := want.Sum(nil)

	socksURL, _ := url.Parse(ep.SOCKS5)
	pass, _ := socksURL.User.Password()
	socksDialer, err := proxy.SOCKS5("tcp", socksURL.Host, &proxy.Auth{User: socksURL.User.Username(), Password: pass}, &net.Dialer{})
	if err != nil {
		return nil, err
	}
	httpProxy, _ := url.Parse(ep.HTTP)
	tlsConf := &tls.Config{RootCAs: org.roots}
	clients := []struct {
		via string
		tr  *http.Transport
		url string
	}{
		{"socks5", &http.Transport{Proxy: nil, DialContext: socksDialer.(proxy.ContextDialer).DialContext}, ep.Origin},
		{"http (plain)", &http.Transport{Proxy: http.ProxyURL(httpProxy)}, ep.Origin},
		{"http (CONNECT + TLS)", &http.Transport{Proxy: http.ProxyURL(httpProxy), TLSClientConfig: tlsConf}, ep.OriginTLS},
	}
	var out []fetchResult
	for _, c := range clients {
		start := time.Now()
		n, sum, err := fetch(ctx, c.tr, fmt.Sprintf("%s/bytes/%d", c.url, size))
		c.tr.CloseIdleConnections()
		if err != nil {
			return nil, fmt.Errorf("fetch via %s: %w", c.via, err)
		}
		if n != size || string(sum) != string(wantSum) {
			return nil, fmt.Errorf("fetch via %s: got %d bytes with a different digest, want %d bytes", c.via, n, size)
		}
		out = append(out, fetchResult{Via: c.via, Bytes: n, Elapsed: time.Since(start).Round(time.Millisecond).String()})
	}
	return out, nil
}

func fetch(ctx context.Context, tr http.RoundTripper, u string) (int64, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, nil, errors.New(resp.Status + ": " + strings.TrimSpace(string(b)))
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return n, h.Sum(nil), err
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// settledUsage waits (up to 5s) for the buyer's connections to end, so the
// last chunk of each relay is counted, and returns its usage.
func settledUsage(b *meter.Buyer) meter.Usage {
	deadline := time.Now().Add(5 * time.Second)
	for b.Usage().ActiveConns > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return b.Usage()
}
