package ledger

import (
	"errors"
	"fmt"

	"github.com/x402/x402/pay"
)

func checkAssetAmount(asset pay.Asset, amount pay.Amount) error {
	if !asset.Valid() {
		return fmt.Errorf("unknown asset %q", asset)
	}
	if amount == 0 {
		return errors.New("amount is zero")
	}
	return nil
}

func (s *step) transfer(b Transfer) (Receipt, error) {
	if err := checkAssetAmount(b.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	if b.To.IsZero() {
		return Receipt{}, errors.New("recipient is unset")
	}
	if b.To == s.from {
		return Receipt{}, errors.New("sender and recipient are the same account")
	}
	if err := s.v.debit(s.from, b.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	paid, fee, err := s.payWithFee(b.To, b.Asset, b.Amount)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Paid: paid, Fee: fee}, nil
}

func (s *step) checkIssuer() error {
	if s.l.g.Issuer.IsZero() {
		return errors.New("this ledger has no issuer")
	}
	if s.from != s.l.g.Issuer {
		return fmt.Errorf("sender %s is not the issuer", s.from)
	}
	return nil
}

func (s *step) mint(b Mint) (Receipt, error) {
	if err := s.checkIssuer(); err != nil {
		return Receipt{}, err
	}
	if err := checkAssetAmount(b.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	if b.To.IsZero() {
		return Receipt{}, errors.New("recipient is unset")
	}
	if err := s.v.issue(b.To, b.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	return Receipt{Paid: b.Amount}, nil
}

func (s *step) burn(b Burn) (Receipt, error) {
	if err := s.checkIssuer(); err != nil {
		return Receipt{}, err
	}
	if err := checkAssetAmount(b.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	if err := s.v.burn(s.from, b.Asset, b.Amount); err != nil {
		return Receipt{}, err
	}
	return Receipt{Paid: b.Amount}, nil
}

func (s *step) faucet(b Faucet) (Receipt, error) {
	f := s.l.g.Faucet
	if f == nil {
		return Receipt{}, errors.New("this ledger has no faucet")
	}
	if b.Asset != f.Asset {
		return Receipt{}, fmt.Errorf("the faucet gives only %s, not %q", f.Asset, b.Asset)
	}
	key := assetKey(s.from, b.Asset)
	if s.v.get(bucketFaucet, key) != nil {
		return Receipt{}, fmt.Errorf("%s already used the %s faucet", s.from, b.Asset)
	}
	if err := s.v.issue(s.from, f.Asset, f.Amount); err != nil {
		return Receipt{}, err
	}
	s.v.put(bucketFaucet, key, []byte{1})
	return Receipt{Paid: f.Amount}, nil
}
