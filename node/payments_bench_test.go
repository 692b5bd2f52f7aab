package node

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
	"github.com/x402/x402/proxy"
)

// BenchmarkPaidRelay downloads through the seller's SOCKS5 proxy unpaid
// (the node's static buyer) and paid (a buyer agent pays as the bytes
// flow: credit window, statements, ticks, fsynced payments), with the
// node's and the agent's defaults. Their ratio is the cost of paying per
// packet, recorded in BENCHMARKS.md:
//
//   - paid-direct: the client uses the channel's credentials on the
//     seller's proxy (`x402 buy` without --listen), the same path as unpaid;
//   - paid-agent: the client goes through the agent's counting local
//     endpoint, one more loopback proxy hop;
//   - paid-direct-noprepay: the buyer pays only what it was billed, so
//     every credit window waits for a payment round trip.
//
// pay-wire-% is the payment session's traffic on the wire (both
// directions, UDP/IP headers included) per relayed byte.
func BenchmarkPaidRelay(b *testing.B) {
	const perOp = 64 << 20
	for _, bc := range []struct {
		name   string
		paid   bool
		local  bool
		prepay int64
	}{
		{"unpaid", false, false, 0},
		{"paid-direct", true, false, 0},
		{"paid-agent", true, true, 0},
		{"paid-direct-noprepay", true, false, -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pn := startPaidNetWith(b, func(*PaymentsSection) {}) // the defaults: 64 KiB window, 0.01 USD claims
			socks, user, pass := pn.node.Addrs().SOCKS5, "agent", "s3cret"
			var agent *buyer.Agent
			if bc.paid {
				cfg := buyer.AgentConfig{
					Key: pn.buyer.key, Ledger: pn.ledger, SellerAddr: pn.node.Addrs().Payments, Seller: pn.seller.acc,
					Asset: pay.USD, Deposit: 5 * pay.Nano, Challenge: 50 * time.Millisecond,
					Limits: buyer.Limits{PrepayBytes: bc.prepay}, Logger: slog.New(slog.DiscardHandler),
				}
				if bc.local {
					cfg.ListenSOCKS5 = "127.0.0.1:0"
				}
				var err error
				if agent, err = buyer.StartAgent(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				if bc.local {
					socks, _, user, pass = agent.LocalEndpoints()
				} else {
					w := agent.Welcome()
					socks, user, pass = w.SOCKS5, w.User, w.Password
				}
			}
			b.SetBytes(perOp)
			b.ResetTimer()
			for range b.N {
				c, err := proxy.DialSOCKS5(context.Background(), socks, user, pass, "127.0.0.1", portOf(pn.origin))
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(c, "GET /bytes/"+strconv.Itoa(perOp)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				if n < perOp {
					b.Fatalf("got %d bytes", n)
				}
			}
			b.StopTimer()
			if agent != nil {
				s, err := agent.Close(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if s.Settled > s.Billed {
					b.Fatalf("settled %s for a bill of %s", s.Settled, s.Billed)
				}
				b.ReportMetric(100*float64(s.WireBytes)/float64(s.BytesBilled), "pay-wire-%")
				for _, cs := range pn.node.pay.seller.Status() {
					b.ReportMetric(float64(cs.Pauses)/float64(b.N), "pauses/op")
					b.ReportMetric(float64(cs.MaxUnpaidBytes), "max-unpaid-B")
				}
			}
		})
	}
}
