package ledger

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/x402/x402/internal/wire"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/sim"
)

// sampleBodies has one body of every type, with every optional part.
func sampleBodies() []Body {
	d := testGenesis().Domain()
	w := testChain(3, 8)
	chained := pay.Voucher{Channel: pay.ChannelID{1}, Cumulative: 5, Seq: 2,
		Chain: &pay.ChainCommit{Root: w[0], TickValue: 3, Length: 8}}.Sign(d, buyerP.priv)
	plain := pay.Voucher{Channel: pay.ChannelID{2}, Cumulative: 9, Seq: 1}.Sign(d, buyerP.priv)
	return []Body{
		Transfer{To: sellerP.acct, Asset: usd, Amount: 100_000},
		Mint{To: buyerP.acct, Asset: pay.X402, Amount: 1},
		Burn{Asset: usd, Amount: 2},
		OpenChannel{Seller: sellerP.acct, Asset: usd, Deposit: pay.Nano, Challenge: time.Minute},
		TopUp{Channel: pay.ChannelID{3}, Amount: 4},
		Claim{Voucher: plain},
		Claim{Voucher: chained, Ticks: 4, Preimage: w[4]},
		StartClose{Channel: pay.ChannelID{5}},
		Finalize{Channel: pay.ChannelID{6}},
		CoopClose{Voucher: chained, Ticks: 8, Preimage: w[8]}.SignSeller(d, sellerP.priv),
		Faucet{Asset: usd},
		RegisterIdentity{Claim: sampleClaim(d, buyerP, testSIMs[0])},
		TransferBinding{To: otherP.acct, NewClaim: sampleClaim(d, otherP, testSIMs[0])},
	}
}

// sampleClaim is p's claim to the SIM id in domain d; the inputs are fixed,
// so an error is a bug in the test.
func sampleClaim(d pay.Domain, p party, id sim.Identity) []byte {
	c, err := sim.NewClaim(simDomain(d), p.acct[:], id, simKey, p.priv)
	if err != nil {
		panic(err)
	}
	b, err := c.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func TestTxRoundTripEveryBody(t *testing.T) {
	d := testGenesis().Domain()
	payloads := map[string]bool{}
	for i, body := range sampleBodies() {
		tx := Tx{From: buyerP.acct, Nonce: uint64(i + 1), Body: body}.Sign(d, buyerP.priv)
		enc := tx.Marshal()
		if len(enc) > MaxTxSize {
			t.Fatalf("%T: %d bytes exceeds MaxTxSize", body, len(enc))
		}
		back, err := UnmarshalTx(enc)
		if err != nil {
			t.Fatalf("%T: %v", body, err)
		}
		if !bytes.Equal(back.Marshal(), enc) {
			t.Fatalf("%T: re-encoding differs", body)
		}
		if err := back.Verify(d); err != nil {
			t.Fatalf("%T: %v", body, err)
		}
		if err := back.Verify(pay.Domain{Chain: "x402-test", Shard: 1}); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%T: signature verified in another shard: %v", body, err)
		}
		payloads[string(tx.Payload())] = true
	}
	if len(payloads) != len(sampleBodies()) {
		t.Fatal("two bodies share a payload")
	}
}

func TestUnmarshalTxIsStrict(t *testing.T) {
	d := testGenesis().Domain()
	good := Tx{From: buyerP.acct, Nonce: 1, Body: Transfer{To: sellerP.acct, Asset: usd, Amount: 5}}.Sign(d, buyerP.priv).Marshal()
	for i := range good {
		if _, err := UnmarshalTx(good[:i]); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	if _, err := UnmarshalTx(append(bytes.Clone(good), 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing byte: %v", err)
	}
	bad := bytes.Clone(good)
	bad[40] = 99 // the body tag follows the 32-byte sender and the 8-byte nonce
	if _, err := UnmarshalTx(bad); err == nil || !strings.Contains(err.Error(), "unknown transaction type 99") {
		t.Fatalf("unknown tag: %v", err)
	}
	eur := wire.NewWriter(200).Fixed(buyerP.acct[:]).U64(1).U8(tagFaucet).String("EUR").Fixed(make([]byte, 64)).Bytes()
	if _, err := UnmarshalTx(eur); err == nil || !strings.Contains(err.Error(), `unknown asset "EUR"`) {
		t.Fatalf("unknown asset: %v", err)
	}
	if _, err := UnmarshalTx(make([]byte, MaxTxSize+1)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized: %v", err)
	}
	// A body that is not one of ours encodes to an undecodable tag and is
	// never applied.
	var nilBody SignedTx
	if _, err := UnmarshalTx(nilBody.Marshal()); err == nil {
		t.Fatal("a transaction without a body decoded")
	}
	l := openTest(t, testGenesis())
	r := l.Apply(Tx{From: buyerP.acct, Nonce: 1, Body: &Transfer{}}.Sign(d, buyerP.priv), 1)
	if !strings.Contains(r.Err, "unsupported transaction body *ledger.Transfer") {
		t.Fatalf("pointer body: %q", r.Err)
	}
}

func FuzzUnmarshalTx(f *testing.F) {
	d := testGenesis().Domain()
	for i, body := range sampleBodies() {
		f.Add(Tx{From: buyerP.acct, Nonce: uint64(i + 1), Body: body}.Sign(d, buyerP.priv).Marshal())
	}
	f.Add([]byte{})
	l, err := open(f.TempDir()+"/fuzz.db", testGenesis(), openOptions{noSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := UnmarshalTx(b)
		if err != nil {
			return
		}
		// One encoding per value: re-encoding gives the input back.
		if got := tx.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
		_ = tx.Verify(d)
		// Whatever it says, applying it never breaks the ledger.
		before := l.Digest()
		if r := l.ApplyVerified(tx, 1); r.Err != "" && l.Digest() != before {
			t.Fatalf("rejected transaction changed the state: %s", r.Err)
		}
		if err := l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	})
}
