package pay

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/x402/x402/internal/keys"
)

func testKey(t testing.TB) (ed25519.PrivateKey, Account) {
	priv, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return priv, AccountOf(priv.Public().(ed25519.PublicKey))
}

func TestVoucherSignVerifyAndDomainSeparation(t *testing.T) {
	priv, buyer := testKey(t)
	_, other := testKey(t)
	d := Domain{Chain: "x402-test", Shard: 0}
	chain, err := NewHashChain(100)
	if err != nil {
		t.Fatal(err)
	}
	v := Voucher{Channel: ChannelID{1}, Cumulative: 5000, Seq: 3, Chain: &ChainCommit{Root: chain.Root(), TickValue: 10, Length: 100}}
	sv := v.Sign(d, priv)
	if err := sv.Verify(d, buyer); err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalVoucher(sv.Marshal())
	if err != nil || back.Verify(d, buyer) != nil || *back.Chain != *sv.Chain {
		t.Fatalf("round trip: %v", err)
	}
	for name, check := range map[string]error{
		"other signer":  sv.Verify(d, other),
		"other chain":   sv.Verify(Domain{Chain: "x402-main"}, buyer),
		"other shard":   sv.Verify(Domain{Chain: "x402-test", Shard: 1}, buyer),
		"altered value": SignedVoucher{Voucher: Voucher{Channel: v.Channel, Cumulative: 5001, Seq: 3, Chain: v.Chain}, Sig: sv.Sig}.Verify(d, buyer),
	} {
		if !errors.Is(check, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, check)
		}
	}
	// A voucher signature is not a valid signature of any other kind.
	if d.Verify(buyer, KindTx, v.Payload(), sv.Sig) {
		t.Error("voucher signature verified as a transaction")
	}
	if got, err := v.ValueWithTicks(7); err != nil || got != 5070 {
		t.Errorf("ValueWithTicks(7) = %d, %v", got, err)
	}
	if _, err := v.ValueWithTicks(101); err == nil {
		t.Error("ticks beyond the chain accepted")
	}
}

func TestHashChainTicks(t *testing.T) {
	c, err := NewHashChain(50)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= c.Len(); k++ {
		if !VerifyNextTick(c.Preimage(k-1), c.Preimage(k)) {
			t.Fatalf("tick %d does not hash to tick %d", k, k-1)
		}
	}
	if VerifyNextTick(c.Preimage(1), c.Preimage(3)) {
		t.Fatal("skipped tick verified as the next one")
	}
	if err := VerifyPreimage(c.Root(), c.Preimage(50), 50, 50); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPreimage(c.Root(), c.Preimage(49), 50, 50); !errors.Is(err, ErrChainMismatch) {
		t.Fatalf("claiming 50 ticks with preimage 49: %v", err)
	}
	if err := VerifyPreimage(c.Root(), c.Preimage(50), 51, 50); err == nil {
		t.Fatal("chain longer than committed accepted")
	}
	if _, err := NewHashChain(MaxChainLength + 1); err == nil {
		t.Fatal("over-long chain created")
	}
	for _, n := range []uint32{0, 1, 17, 50} {
		if got := HashForward(c.Preimage(50), n); got != c.Preimage(50-int(n)) {
			t.Fatalf("hashing preimage 50 forward %d times does not give preimage %d", n, 50-n)
		}
	}
}

func FuzzUnmarshalVoucher(f *testing.F) {
	priv, _ := testKey(f)
	d := Domain{Chain: "fuzz"}
	f.Add(Voucher{Channel: ChannelID{9}, Cumulative: 1, Seq: 1}.Sign(d, priv).Marshal())
	f.Add(Voucher{Channel: ChannelID{9}, Cumulative: 1, Seq: 2, Chain: &ChainCommit{Length: 3, TickValue: 1}}.Sign(d, priv).Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := UnmarshalVoucher(b)
		if err != nil {
			return
		}
		// One encoding per value: re-encoding gives the input back.
		if got := v.Marshal(); string(got) != string(b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
	})
}
