package session

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/x402/x402/pay"
)

// BenchmarkVerifyNextTick measures the seller's per-tick cost: one SHA-256.
func BenchmarkVerifyNextTick(b *testing.B) {
	chain, err := pay.NewHashChain(pay.MaxChainLength)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = i%pay.MaxChainLength + 1
		if !pay.VerifyNextTick(chain.Preimage(i-1), chain.Preimage(i)) {
			b.Fatal("tick does not verify")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// BenchmarkSessionTickCheck measures a tick through the session's verifier
// (decode, lock, hash, bookkeeping).
func BenchmarkSessionTickCheck(b *testing.B) {
	chain, err := pay.NewHashChain(pay.MaxChainLength)
	if err != nil {
		b.Fatal(err)
	}
	c := &pay.ChainCommit{Root: chain.Root(), TickValue: 1, Length: pay.MaxChainLength}
	v := tickVerifier{session: 1}
	var dgrams [][]byte
	for i := 1; i <= pay.MaxChainLength; i++ {
		dgrams = append(dgrams, tick{Session: 1, VoucherSeq: 1, Index: uint32(i), Preimage: chain.Preimage(i)}.encode())
	}
	b.ReportAllocs()
	i, seq := 0, uint64(0)
	for b.Loop() {
		if i == 0 {
			seq++
			v.accept(pay.Voucher{Seq: seq, Chain: c}) // a new chain every MaxChainLength ticks
		}
		t, err := decodeTick(dgrams[i])
		if err != nil {
			b.Fatal(err)
		}
		t.VoucherSeq = seq
		if v.check(t) != tickValid {
			b.Fatal("tick rejected")
		}
		i = (i + 1) % pay.MaxChainLength
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// BenchmarkVoucherVerify measures a voucher's verification (domain-separated
// payload plus ed25519) and a raw ed25519.Verify of a 32-byte message,
// interleaved so machine noise hits both alike, and reports their ratio.
func BenchmarkVoucherVerify(b *testing.B) {
	key, buyer := newKey(b)
	chain := &pay.ChainCommit{Root: [32]byte{1}, TickValue: 10, Length: 1000}
	sv := pay.Voucher{Channel: pay.ChannelID{1}, Cumulative: 5000, Seq: 3, Chain: chain}.Sign(testDomain, key)
	msg := make([]byte, 32)
	sig := ed25519.Sign(key, msg)
	pub := buyer.PublicKey()

	var voucher, raw time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := sv.Verify(testDomain, buyer); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature does not verify")
		}
		voucher += t1.Sub(t0)
		raw += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(voucher.Nanoseconds())/n, "voucher-ns")
	b.ReportMetric(float64(raw.Nanoseconds())/n, "ed25519-ns")
	b.ReportMetric(n/voucher.Seconds(), "vouchers/s")
	b.ReportMetric(float64(voucher)/float64(raw), "voucher/ed25519")
}
