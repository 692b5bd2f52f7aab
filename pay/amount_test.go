package pay

import (
	"math"
	"testing"
)

func TestAmountParseFormat(t *testing.T) {
	for s, want := range map[string]Amount{
		"0.0001": 100000, "1": Nano, "12.000000001": 12*Nano + 1, ".5": Nano / 2, "0": 0, "18446744073": 18446744073 * Nano,
	} {
		got, err := ParseAmount(s)
		if err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", ".", "1.", "-1", "1e3", "0.0000000001", "18446744074", "1,5", "abc", "1.2.3", "NaN"} {
		if _, err := ParseAmount(bad); err == nil {
			t.Errorf("ParseAmount(%q) accepted", bad)
		}
	}
	if s := Amount(100000).Format(USD); s != "0.0001 USD" {
		t.Errorf("Format = %q", s)
	}
	if s := Amount(12*Nano + 1).String(); s != "12.000000001" {
		t.Errorf("String = %q", s)
	}
	a, asset, err := ParseAssetAmount("0.5 USD")
	if err != nil || a != Nano/2 || asset != USD {
		t.Errorf("ParseAssetAmount = %d %s %v", a, asset, err)
	}
	if a, asset, err := ParseAssetAmount("7 X402"); err != nil || a != 7*Nano || asset != X402 {
		t.Errorf("ParseAssetAmount(7 X402) = %d %s %v", a, asset, err)
	}
	for _, bad := range []string{"0.5 EUR", "USD", "1.2.3 USD", "-1 USD"} {
		if _, _, err := ParseAssetAmount(bad); err == nil {
			t.Errorf("ParseAssetAmount(%q) accepted", bad)
		}
	}
	if _, _, err := ParseAssetAmount("0.5 EUR"); err == nil {
		t.Error("unknown asset accepted")
	}
}

func TestOwedForBytesIsExactAndNeverOverflows(t *testing.T) {
	price := Amount(Nano / 2) // 0.50 USD/GiB
	if got := OwedForBytes(GiB, price); got != price {
		t.Fatalf("one GiB owes %d, want %d", got, price)
	}
	if got := OwedForBytes(GiB-1, 1); got != 0 {
		t.Fatalf("rounding: %d, want 0 (floor)", got)
	}
	// 2^62 bytes at 4 units/GiB would overflow 64 bits in the product.
	if got := OwedForBytes(1<<62, 4*Nano); got != Amount(uint64(1<<32)*4*Nano) {
		t.Fatalf("large product: %d", got)
	}
	if got := OwedForBytes(math.MaxUint64, math.MaxUint64); got != math.MaxUint64 {
		t.Fatalf("saturation: %d", got)
	}
}

func TestFeeIsExactForTheMinimumPayment(t *testing.T) {
	// 0.0001 USD at 10 ppm (0.001%) is exactly 1 nano-USD.
	if got := FeeFor(100000, 10); got != 1 {
		t.Fatalf("fee = %d, want 1", got)
	}
	if got := FeeFor(99999, 10); got != 0 {
		t.Fatalf("fee rounds down: %d", got)
	}
	if got := FeeFor(math.MaxUint64, 1_000_000); got != math.MaxUint64 {
		t.Fatalf("100%% fee of max = %d", got)
	}
	if got := FeeFor(1000, 5_000_000); got != 1000 {
		t.Fatalf("fee above 100%% is capped: %d", got)
	}
}
