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

// BenchmarkPaidRelay downloads through the seller's SOCKS5 proxy with
// payments on (through the buyer agent's local endpoint: credit window,
// statements, ticks, fsynced vouchers) and off (the node's static buyer,
// straight to the seller's proxy). Their ratio is the cost of paying per
// packet, recorded in BENCHMARKS.md.
func BenchmarkPaidRelay(b *testing.B) {
	const perOp = 64 << 20
	for _, bc := range []struct {
		name   string
		paid   bool
		window uint64
	}{
		{"payments=off", false, 64 << 10},
		{"payments=on/window=64KiB", true, 64 << 10},
		{"payments=on/window=1MiB", true, 1 << 20},
	} {
		paid := bc.paid
		b.Run(bc.name, func(b *testing.B) {
			pn := startPaidNetTB(b, 10*time.Second, bc.window)
			socks, user, pass := pn.node.Addrs().SOCKS5, "agent", "s3cret"
			var agent *buyer.Agent
			if paid {
				var err error
				agent, err = buyer.StartAgent(context.Background(), buyer.AgentConfig{
					Key: pn.buyer.key, Ledger: pn.ledger, SellerAddr: pn.node.Addrs().Payments, Seller: pn.seller.acc,
					Asset: pay.USD, Deposit: 5 * pay.Nano, Challenge: 50 * time.Millisecond,
					ListenSOCKS5: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
				})
				if err != nil {
					b.Fatal(err)
				}
				socks, _, user, pass = agent.LocalEndpoints()
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
				b.ReportMetric(float64(s.Paid), "nano-paid")
			}
		})
	}
}
