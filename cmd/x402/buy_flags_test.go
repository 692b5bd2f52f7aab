package main

import (
	"io"
	"strings"
	"testing"

	"github.com/x402/x402/internal/keys"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/buyer"
)

// TestBuyPrepayFlag: --prepay-kib sets the buyer's prepayment window, 0
// turns it off, and nonsense is a usage error naming the flag.
func TestBuyPrepayFlag(t *testing.T) {
	key, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	seller := pay.AccountOf(publicKey(key)).String()
	base := []string{"--seller", seller + "@127.0.0.1:1", "--max-price", "0.50 USD", "--deposit", "1 USD"}
	for _, tc := range []struct {
		args []string
		want int64
		err  string
	}{
		{nil, buyer.DefaultPrepayBytes, ""},
		{[]string{"--prepay-kib", "4096"}, 4 << 20, ""},
		{[]string{"--prepay-kib", "0"}, -1, ""},
		{[]string{"--prepay-kib", "-5"}, 0, "--prepay-kib"},
		{[]string{"--prepay-kib", "lots"}, 0, "prepay-kib"},
	} {
		o, err := parseBuyFlags(append(tc.args, base...), io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if o.limits.PrepayBytes != tc.want {
			t.Errorf("%v: prepay %d bytes, want %d", tc.args, o.limits.PrepayBytes, tc.want)
		}
	}
}
