package proxy

import (
	"context"
	"io"
	"math"
	"net"
	"testing"

	"github.com/x402/x402/meter"
)

// BenchmarkRelay measures loopback throughput of the spliced relay with
// metering (a meter update and credit check every chunk) against the same
// relay with metering off (one uncounted copy per direction). The ratio is
// the metering cost recorded in BENCHMARKS.md.
func BenchmarkRelay(b *testing.B) {
	for _, bc := range []struct {
		name  string
		chunk int64
	}{
		{"metering=off", math.MaxInt64},
		{"metering=on/chunk=64KiB", 64 << 10},
		{"metering=on/chunk=256KiB", 256 << 10},
		{"metering=on/chunk=1MiB", 1 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) { benchRelay(b, bc.chunk) })
	}
}

func benchRelay(b *testing.B, chunk int64) {
	const perOp = 16 << 20
	src, relayIn := tcpPair(b)
	relayOut, dst := tcpPair(b)
	r := &relay{client: relayIn, target: relayOut, buyer: meter.New().Buyer("bench"), gate: meter.AllowAll{}, chunk: chunk}
	done := make(chan struct{})
	go func() { defer close(done); r.run(context.Background()) }()
	buf := make([]byte, 1<<20)
	b.SetBytes(perOp)
	b.ResetTimer()
	go func() {
		for range b.N {
			for sent := 0; sent < perOp; sent += len(buf) {
				if _, err := src.Write(buf); err != nil {
					return
				}
			}
		}
		src.CloseWrite()
	}()
	if _, err := io.CopyN(io.Discard, dst, int64(b.N)*perOp); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	src.Close()
	dst.Close()
	<-done
}

// tcpPair returns the two ends of one loopback TCP connection.
func tcpPair(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	l := listenLoopback(tb)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		tb.Fatal("accept failed")
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}
