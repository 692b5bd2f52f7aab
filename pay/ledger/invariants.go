package ledger

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/x402/x402/pay"
)

// CheckInvariants reads the whole state and checks what must always hold:
//   - every record decodes, and every key names a known asset;
//   - for each asset, balances plus channel escrow equal what was issued
//     (genesis, mint, faucet) minus what was burned, so supply changes only
//     by mint and burn, computed with checked arithmetic (no balance is
//     negative: amounts are unsigned and every sum is overflow-checked);
//   - no channel has paid out more than its deposit (Claimed <= Deposit),
//     and a settled channel paid out exactly its deposit (Claimed +
//     Refunded = Deposit) while an unsettled one refunded nothing;
//   - the SIM bindings (account -> commitment and commitment -> account)
//     are inverse maps: one account per SIM and one SIM per account.
//
// Together with conservation these imply a channel settles at most once
// and its claims never go backwards: a second refund or a lower claim
// would create money that no escrow held. (Apply also rejects them
// directly; the property tests check both.)
func (l *Ledger) CheckInvariants() error {
	if err := l.settle(); err != nil {
		return fmt.Errorf("ledger invariants: %w", err)
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %q is missing", name)
			}
		}
		c := &checker{held: map[pay.Asset]pay.Amount{}}
		if err := c.meta(tx, l.g); err != nil {
			return err
		}
		for _, f := range []func(*bolt.Tx) error{c.nonces, c.balances, c.channels, c.faucet, c.bindings} {
			if err := f(tx); err != nil {
				return err
			}
		}
		return c.supply(tx)
	})
	if err != nil {
		return fmt.Errorf("ledger invariant: %w", err)
	}
	return nil
}

// checker accumulates what the accounts and channels hold per asset.
type checker struct {
	held map[pay.Asset]pay.Amount
}

func (c *checker) add(asset pay.Asset, x pay.Amount, what string) error {
	sum, err := c.held[asset].Add(x)
	if err != nil {
		return fmt.Errorf("%s: total %s held: %w", what, asset, err)
	}
	c.held[asset] = sum
	return nil
}

func (c *checker) meta(tx *bolt.Tx, g Genesis) error {
	m := tx.Bucket(bucketMeta)
	if !bytes.Equal(m.Get(metaGenesis), g.encode()) {
		return errors.New("genesis record differs from the ledger's genesis")
	}
	if _, err := readU64(m.Get(metaApplied), "applied"); err != nil {
		return err
	}
	return nil
}

func (c *checker) nonces(tx *bolt.Tx) error {
	return tx.Bucket(bucketNonces).ForEach(func(k, v []byte) error {
		if len(k) != len(pay.Account{}) || len(v) != 8 {
			return fmt.Errorf("malformed nonce record %x", k)
		}
		return nil
	})
}

// splitAssetKey inverts assetKey.
func splitAssetKey(k []byte) (pay.Account, pay.Asset, error) {
	var a pay.Account
	if len(k) <= len(a) {
		return a, "", fmt.Errorf("malformed key %x", k)
	}
	copy(a[:], k)
	asset := pay.Asset(k[len(a):])
	if !asset.Valid() {
		return a, "", fmt.Errorf("key %x names unknown asset %q", k, asset)
	}
	return a, asset, nil
}

func (c *checker) balances(tx *bolt.Tx) error {
	return tx.Bucket(bucketBalances).ForEach(func(k, v []byte) error {
		a, asset, err := splitAssetKey(k)
		if err != nil {
			return fmt.Errorf("balance: %w", err)
		}
		if len(v) != 8 {
			return fmt.Errorf("balance of %s: malformed record", a)
		}
		x, _ := readU64(v, "balance")
		return c.add(asset, pay.Amount(x), "balance of "+a.String())
	})
}

func (c *checker) channels(tx *bolt.Tx) error {
	return tx.Bucket(bucketChannels).ForEach(func(k, v []byte) error {
		var id pay.ChannelID
		if len(k) != len(id) {
			return fmt.Errorf("malformed channel key %x", k)
		}
		copy(id[:], k)
		ch, err := decodeChannel(id, v)
		if err != nil {
			return err
		}
		if err := checkChannel(ch); err != nil {
			return fmt.Errorf("channel %s: %w", id, err)
		}
		return c.add(ch.Asset, ch.Escrow(), "escrow of channel "+id.String())
	})
}

func checkChannel(ch ChannelState) error {
	switch {
	case ch.Buyer == ch.Seller:
		return errors.New("buyer and seller are the same account")
	case ch.Claimed > ch.Deposit:
		return fmt.Errorf("claimed %d exceeds the deposit %d", ch.Claimed, ch.Deposit)
	case ch.Status == StatusOpen && ch.CloseAt != 0:
		return fmt.Errorf("open channel has a close time %d", ch.CloseAt)
	case ch.Status == StatusSettled && ch.Claimed+ch.Refunded != ch.Deposit: // Claimed <= Deposit, so no overflow when it holds
		return fmt.Errorf("settled: claimed %d + refunded %d != deposit %d", ch.Claimed, ch.Refunded, ch.Deposit)
	case ch.Status != StatusSettled && ch.Refunded != 0:
		return fmt.Errorf("%s channel refunded %d", ch.Status, ch.Refunded)
	}
	return nil
}

func (c *checker) faucet(tx *bolt.Tx) error {
	return tx.Bucket(bucketFaucet).ForEach(func(k, _ []byte) error {
		_, _, err := splitAssetKey(k)
		return err
	})
}

func (c *checker) supply(tx *bolt.Tx) error {
	v := newView(tx)
	seen := map[pay.Asset]bool{}
	err := tx.Bucket(bucketSupply).ForEach(func(k, _ []byte) error {
		asset := pay.Asset(k)
		if !asset.Valid() {
			return fmt.Errorf("supply of unknown asset %q", asset)
		}
		seen[asset] = true
		issued, burned, err := v.supply(asset)
		if err != nil {
			return err
		}
		supply, err := issued.Sub(burned)
		if err != nil {
			return fmt.Errorf("supply of %s: burned more than issued: %w", asset, err)
		}
		if c.held[asset] != supply {
			return fmt.Errorf("supply of %s not conserved: balances and escrow hold %d, issued %d - burned %d = %d",
				asset, c.held[asset], issued, burned, supply)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, asset := range []pay.Asset{pay.USD, pay.X402} {
		if !seen[asset] && c.held[asset] != 0 {
			return fmt.Errorf("%d %s held but none was ever issued", c.held[asset], asset)
		}
	}
	return nil
}
