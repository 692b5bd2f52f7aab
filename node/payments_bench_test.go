package node

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/proxy"
)

// BenchmarkPaidRelay measures the cost of paying per packet: every
// iteration downloads 64 MiB through the seller's SOCKS5 proxy unpaid (the
// node's static buyer) and then paid (a buyer agent pays as the bytes
// flow: credit window, statements, tick datagrams, fsynced payments), on
// the same node with its and the agent's defaults, so both see the same
// machine noise. It reports both medians and paid÷unpaid, recorded in
// BENCHMARKS.md:
//
//   - direct: the client uses the channel's credentials on the seller's
//     proxy (`x402 buy` without --listen), the same path as unpaid;
//   - agent: the client goes through the agent's counting local endpoint,
//     one more loopback proxy hop;
//   - direct-noprepay: the buyer pays only what it was billed, so every
//     credit window waits for a payment round trip;
//   - direct-link200: the origin paces its bytes at 200 MB/s, as an
//     appliance's uplink would, so the relay is not CPU-bound;
//   - direct-4MiB: statements every 4 MiB and a 16 MiB prepayment (the
//     defaults before 2026-11-26), four times the statement cycles.
//
// pay-wire-% is the payment session's traffic on the wire (both
// directions, UDP/IP headers included) per relayed byte; max-unpaid-B the
// seller's measured exposure (at most its 64 KiB credit window).
func BenchmarkPaidRelay(b *testing.B) {
	for _, bc := range []struct {
		name   string
		local  bool
		prepay int64
		mbps   int    // origin pacing, 0: as fast as it can
		every  uint64 // statement_every, 0: the default
	}{
		{"direct", false, 0, 0, 0},
		{"agent", true, 0, 0, 0},
		{"direct-noprepay", false, -1, 0, 0},
		{"direct-link200", false, 0, 200, 0},
		{"direct-4MiB", false, 16 << 20, 0, 4 << 20},
	} {
		perOp := 64 << 20
		if bc.mbps > 0 {
			perOp = 16 << 20
		}
		b.Run(bc.name, func(b *testing.B) {
			pn := startPaidNetWith(b, func(ps *PaymentsSection) { ps.StatementEvery = bc.every }) // else the defaults: 64 KiB window, 0.01 USD claims
			cfg := buyer.AgentConfig{
				Key: pn.buyer.key, Ledger: pn.ledger, SellerAddr: pn.node.Addrs().Payments, Seller: pn.seller.acc,
				Asset: pay.USD, Deposit: 5 * pay.Nano, Challenge: 50 * time.Millisecond,
				Limits: buyer.Limits{PrepayBytes: bc.prepay}, Logger: slog.New(slog.DiscardHandler),
			}
			if bc.local {
				cfg.ListenSOCKS5 = "127.0.0.1:0"
			}
			agent, err := buyer.StartAgent(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			paid := endpoint{}
			if bc.local {
				paid.addr, _, paid.user, paid.pass = agent.LocalEndpoints()
			} else {
				w := agent.Welcome()
				paid = endpoint{w.SOCKS5, w.User, w.Password}
			}
			unpaid := endpoint{pn.node.Addrs().SOCKS5, "agent", "s3cret"}
			var tUnpaid, tPaid []time.Duration
			b.SetBytes(int64(2 * perOp))
			b.ResetTimer()
			for range b.N {
				tUnpaid = append(tUnpaid, download(b, unpaid, pn.origin, perOp, bc.mbps))
				tPaid = append(tPaid, download(b, paid, pn.origin, perOp, bc.mbps))
			}
			b.StopTimer()
			s, err := agent.Close(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if s.Settled > s.Billed {
				b.Fatalf("settled %s for a bill of %s", s.Settled, s.Billed)
			}
			mu, mp := median(tUnpaid), median(tPaid)
			b.ReportMetric(float64(perOp)/mu.Seconds()/1e6, "unpaid-MB/s")
			b.ReportMetric(float64(perOp)/mp.Seconds()/1e6, "paid-MB/s")
			b.ReportMetric(mu.Seconds()/mp.Seconds(), "paid/unpaid")
			b.ReportMetric(100*float64(s.WireBytes)/float64(s.BytesBilled), "pay-wire-%")
			for _, cs := range pn.node.pay.seller.Status() {
				b.ReportMetric(float64(cs.Pauses)/float64(b.N), "pauses/op")
				b.ReportMetric(float64(cs.PausedMillis)/float64(b.N), "paused-ms/op")
				b.ReportMetric(float64(cs.MaxUnpaidBytes), "max-unpaid-B")
			}
		})
	}
}

type endpoint struct{ addr, user, pass string }

// download fetches n bytes from origin through the SOCKS5 endpoint e, paced
// at mbps MB/s by the origin when mbps > 0.
func download(b *testing.B, e endpoint, origin string, n, mbps int) time.Duration {
	start := time.Now()
	c, err := proxy.DialSOCKS5(context.Background(), e.addr, e.user, e.pass, "127.0.0.1", portOf(origin))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /bytes/"+strconv.Itoa(n)+"?mbps="+strconv.Itoa(mbps)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	got, _ := io.Copy(io.Discard, c)
	if got < int64(n) {
		b.Fatalf("got %d bytes through %s", got, e.addr)
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
