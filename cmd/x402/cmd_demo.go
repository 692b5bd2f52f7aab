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

	"github.com/x402/x402/pay"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// demoEndpoints is what `x402 demo --hold --json` prints when ready.
type demoEndpoints struct {
	BuyerSOCKS5 string `json:"buyer_socks5"` // the buyer agent's local endpoints: paid as used
	BuyerHTTP   string `json:"buyer_http"`
	SOCKS5      string `json:"socks5"` // the seller's proxies, with a static demo buyer
	HTTP        string `json:"http"`
	Admin       string `json:"admin"`
	Origin      string `json:"origin"`
	OriginTLS   string `json:"origin_tls"`
	Payments    string `json:"payments"`
	Channel     string `json:"channel"`
	StateDir    string `json:"state_dir"`
}

// demoResult is what `x402 demo --exit --json` prints: the fetches and the
// money, in nano-USD.
type demoResult struct {
	demoEndpoints
	Fetches           []fetchResult `json:"fetches"`
	BytesRelayed      uint64        `json:"bytes_relayed"`
	PriceNanoPerGiB   pay.Amount    `json:"price_nano_per_gib"`
	OwedNano          pay.Amount    `json:"owed_nano"`
	PaidNano          pay.Amount    `json:"paid_nano"`
	SettledNano       pay.Amount    `json:"settled_nano"`
	FeeNano           pay.Amount    `json:"fee_nano"`
	SellerBalanceNano pay.Amount    `json:"seller_balance_nano"`
	BuyerRefundNano   pay.Amount    `json:"buyer_refund_nano"`
	PrepayNano        pay.Amount    `json:"prepay_nano"`        // how far ahead of its bills the buyer paid, refunded at the close
	PaymentWireBytes  uint64        `json:"payment_wire_bytes"` // the payment session's traffic, both directions
	Replicas          int           `json:"replicas"`
	LedgerTxs         int           `json:"ledger_txs"`
	FinalityMsP50     float64       `json:"finality_ms_p50"`
	FinalityMsP99     float64       `json:"finality_ms_p99"`
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	hold := fs.Bool("hold", false, "serve until SIGINT/SIGTERM instead of exiting after the fetches")
	fs.Bool("exit", true, "run the fetches once, settle and exit (the default without --hold)")
	asJSON := fs.Bool("json", false, "print machine-readable JSON on stdout")
	var allow stringList
	fs.Var(&allow, "allow", "extra egress allow entry HOST:PORT or CIDR:PORT (repeatable)")
	mib := fs.Int64("mib", 4, "MiB to fetch through each of the buyer's endpoints")
	stateDir := fs.String("state", "", "state directory (default: a temporary one, removed on exit)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *mib < 0 || *mib > 64<<10 {
		return usageError{"demo: --mib must be 0..65536"}
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
	dn, err := startDemoNet(ctx, *stateDir, append([]string{org.plain.Addr().String(), org.tls.Addr().String()}, allow...), log)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer dn.close()

	addrs := dn.node.Addrs()
	bs, bh, bu, bp := dn.agent.LocalEndpoints()
	ep := demoEndpoints{
		BuyerSOCKS5: "socks5h://" + bu + ":" + bp + "@" + bs,
		BuyerHTTP:   "http://" + bu + ":" + bp + "@" + bh,
		SOCKS5:      "socks5h://demo:" + dn.password + "@" + addrs.SOCKS5,
		HTTP:        "http://demo:" + dn.password + "@" + addrs.HTTP,
		Admin:       "http://" + addrs.Admin,
		Origin:      org.plainURL(),
		OriginTLS:   org.tlsURL(),
		Payments:    addrs.Payments,
		Channel:     dn.agent.Channel().String(),
		StateDir:    *stateDir,
	}
	if *hold {
		if err := printHold(stdout, ep, *asJSON); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case err = <-dn.node.Errors():
		}
		res, cerr := settleDemo(dn)
		if cerr != nil {
			return errors.Join(err, cerr)
		}
		res.demoEndpoints = ep
		if *asJSON {
			return errors.Join(err, json.NewEncoder(stdout).Encode(res))
		}
		printDemo(stdout, res)
		return err
	}

	fetches, err := demoFetches(ctx, ep, org, *mib<<20)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res, err := settleDemo(dn)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res.demoEndpoints, res.Fetches = ep, fetches
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printDemo(stdout, res)
	return nil
}

// settleDemo closes the buyer's channel and reads the money from the ledger.
func settleDemo(dn *demoNet) (demoResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := dn.agent.Close(ctx)
	if err != nil {
		return demoResult{}, fmt.Errorf("settle: %w", err)
	}
	p50, p99, n := dn.seq.finality()
	return demoResult{
		Replicas:          len(dn.replicas),
		LedgerTxs:         n,
		FinalityMsP50:     p50,
		FinalityMsP99:     p99,
		BytesRelayed:      s.BytesBilled,
		PriceNanoPerGiB:   demoPrice,
		OwedNano:          s.Billed,
		PaidNano:          s.Paid,
		SettledNano:       s.Settled,
		FeeNano:           dn.balance(ctx, dn.fee.acc),
		SellerBalanceNano: dn.balance(ctx, dn.seller.acc),
		BuyerRefundNano:   s.Refund,
		PrepayNano:        s.Prepay,
		PaymentWireBytes:  s.WireBytes,
	}, nil
}

func printHold(w io.Writer, ep demoEndpoints, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(ep)
	}
	_, err := fmt.Fprintf(w, `x402 demo is up; Ctrl-C settles the channel and stops it.

  buyer agent (paid per byte)  %s
                               %s
  seller proxies (static)      %s
                               %s
  admin API                    %s
  origin                       %s  (and %s)

Try: curl -x %s %s/bytes/1048576 -o /dev/null
`, ep.BuyerSOCKS5, ep.BuyerHTTP, ep.SOCKS5, ep.HTTP, ep.Admin, ep.Origin, ep.OriginTLS, ep.BuyerSOCKS5, ep.Origin)
	return err
}

func printDemo(w io.Writer, r demoResult) {
	fmt.Fprintf(w, "x402 demo: a %d-replica PBFT ledger shard, a seller node and a buyer agent on loopback (channel %s)\n\n", r.Replicas, r.Channel[:16])
	for _, f := range r.Fetches {
		fmt.Fprintf(w, "  %-30s %10s  sha256 ok  %s\n", f.Via, humanBytes(uint64(f.Bytes)), f.Elapsed)
	}
	usd := func(a pay.Amount) string { return a.Format(pay.USD) }
	fmt.Fprintf(w, "\nrelayed %s at %s/GiB\n  owed      %s\n  paid      %s\n  settled   %s (seller %s, fee %s)\n  refunded  %s\n",
		humanBytes(r.BytesRelayed), usd(r.PriceNanoPerGiB), usd(r.OwedNano), usd(r.PaidNano), usd(r.SettledNano),
		usd(r.SellerBalanceNano), usd(r.FeeNano), usd(r.BuyerRefundNano))
	if r.BytesRelayed > 0 {
		fmt.Fprintf(w, "payments on the wire: %s (%.3f%% of the bytes relayed, QUIC handshake included)\n", humanBytes(r.PaymentWireBytes), 100*float64(r.PaymentWireBytes)/float64(r.BytesRelayed))
	}
	fmt.Fprintf(w, "ledger: %d transactions final in %.1f ms (p50), %.1f ms (p99)\n", r.LedgerTxs, r.FinalityMsP50, r.FinalityMsP99)
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

	socksURL, _ := url.Parse(ep.BuyerSOCKS5)
	pass, _ := socksURL.User.Password()
	socksDialer, err := proxy.SOCKS5("tcp", socksURL.Host, &proxy.Auth{User: socksURL.User.Username(), Password: pass}, &net.Dialer{})
	if err != nil {
		return nil, err
	}
	httpProxy, _ := url.Parse(ep.BuyerHTTP)
	tlsConf := &tls.Config{RootCAs: org.roots}
	clients := []struct {
		via string
		tr  *http.Transport
		url string
	}{
		{"buyer socks5", &http.Transport{Proxy: nil, DialContext: socksDialer.(proxy.ContextDialer).DialContext}, ep.Origin},
		{"buyer http (plain)", &http.Transport{Proxy: http.ProxyURL(httpProxy)}, ep.Origin},
		{"buyer http (CONNECT + TLS)", &http.Transport{Proxy: http.ProxyURL(httpProxy), TLSClientConfig: tlsConf}, ep.OriginTLS},
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
