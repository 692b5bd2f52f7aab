package seller

import (
	"context"
	"fmt"
	"time"

	"github.com/x402/x402/pay"
)

// AcceptVoucher checks a voucher the channel's buyer sent and, if it is
// worth more than the best payment held, makes it the best. It returns the
// value now held. The new credit it buys is extended only once it is on
// disk (see Run).
func (s *Seller) AcceptVoucher(ch pay.ChannelID, v pay.SignedVoucher) (pay.Amount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[BuyerID(ch)]
	switch {
	case c == nil:
		return 0, fmt.Errorf("voucher for channel %s, which is not admitted", ch)
	case v.Channel != ch:
		return 0, fmt.Errorf("voucher is for channel %s, not %s", v.Channel, ch)
	}
	if err := v.Verify(s.cfg.Domain, c.Buyer); err != nil {
		return 0, err
	}
	held := c.best.Value()
	switch {
	case c.best.Voucher.Seq != 0 && v.Seq <= c.best.Voucher.Seq:
		return held, fmt.Errorf("voucher seq %d is not above the held seq %d", v.Seq, c.best.Voucher.Seq)
	case v.Cumulative < held:
		return held, fmt.Errorf("voucher amount %s is below the %s already held", v.Cumulative, held)
	case v.Cumulative > c.Deposit:
		return held, fmt.Errorf("voucher amount %s exceeds the channel deposit %s", v.Cumulative, c.Deposit)
	}
	c.best = Best{Voucher: v, Claimed: c.best.Claimed}
	s.markDirtyLocked(c)
	return v.Cumulative, nil
}

// AcceptFinal takes the buyer's final voucher for a cooperative close: the
// voucher already held, or a better one. It refuses a final payment that
// falls short of what the channel owes by more than the credit window the
// seller extends anyway.
func (s *Seller) AcceptFinal(ch pay.ChannelID, v pay.SignedVoucher) (pay.Amount, error) {
	s.mu.Lock()
	c := s.chans[BuyerID(ch)]
	if c == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("final voucher for channel %s, which is not admitted", ch)
	}
	_, _, owed := s.owedLocked(c)
	held := c.best.Voucher
	same := held.Seq == v.Seq && held.Sig == v.Sig && c.best.Ticks == 0
	s.mu.Unlock()
	if slack := pay.OwedForBytes(s.cfg.CreditWindow, s.cfg.PricePerGiB); v.Cumulative+slack < owed {
		return 0, fmt.Errorf("final voucher %s falls short of the %s owed", v.Cumulative.Format(s.cfg.Asset), owed.Format(s.cfg.Asset))
	}
	if same {
		return v.Cumulative, nil
	}
	return s.AcceptVoucher(ch, v)
}

// AcceptTicks records that ticks preimages of voucher seq's chain are
// proven, preimage being the newest (the session verified the hashing).
func (s *Seller) AcceptTicks(ch pay.ChannelID, seq uint64, ticks uint32, preimage [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[BuyerID(ch)]
	if c == nil || c.best.Voucher.Seq != seq || ticks <= c.best.Ticks {
		return
	}
	v, err := c.best.Voucher.ValueWithTicks(ticks)
	if err != nil || v > c.Deposit {
		return
	}
	c.best.Ticks, c.best.Preimage = ticks, preimage
	s.markDirtyLocked(c)
}

func (s *Seller) markDirtyLocked(c *channel) {
	s.dirty[c] = struct{}{}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run persists new best payments (fsync) and only then extends the credit
// they buy, and claims unclaimed value above the threshold. It returns when
// ctx ends, after a last persist.
func (s *Seller) Run(ctx context.Context) error {
	claimTick := time.NewTicker(time.Second)
	defer claimTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.persist()
		case <-s.kick:
			if err := s.persist(); err != nil {
				s.log.Error("persisting payments failed; credit is not extended", "err", err)
			}
		case <-claimTick.C:
			s.claimAbove(ctx, s.cfg.ClaimThreshold)
		}
	}
}

// persist writes every dirty channel's best payment, then marks it durable.
func (s *Seller) persist() error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	batch := make(map[*channel]Best, len(s.dirty))
	for c := range s.dirty {
		batch[c] = c.best
	}
	clear(s.dirty)
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if s.store != nil {
		for c, b := range batch {
			if err := s.store.Put(c.ID, b); err != nil {
				s.mu.Lock()
				s.dirty[c] = struct{}{}
				s.mu.Unlock()
				return err
			}
		}
	}
	s.mu.Lock()
	for c, b := range batch {
		if v := b.Value(); v > c.durable {
			c.durable = v
			s.changedLocked(c)
		}
	}
	s.mu.Unlock()
	return nil
}

// claimAbove claims every channel whose unclaimed durable value is at least
// threshold.
func (s *Seller) claimAbove(ctx context.Context, threshold pay.Amount) {
	if s.cfg.Claim == nil {
		return
	}
	type job struct {
		c *channel
		b Best
	}
	var jobs []job
	s.mu.Lock()
	for _, c := range s.chans {
		if c.durable > c.best.Claimed && c.durable-c.best.Claimed >= threshold && c.best.Value() == c.durable {
			jobs = append(jobs, job{c, c.best})
		}
	}
	s.mu.Unlock()
	for _, j := range jobs {
		claimed, err := s.cfg.Claim(ctx, j.c.ID, j.b)
		if err != nil {
			s.log.Warn("claim failed", "channel", j.c.ID, "err", err)
			continue
		}
		s.mu.Lock()
		if claimed > j.c.best.Claimed {
			j.c.best.Claimed = claimed
			s.markDirtyLocked(j.c)
		}
		s.mu.Unlock()
		s.log.Info("claimed", "channel", j.c.ID, "total", claimed.Format(s.cfg.Asset))
	}
}

// ClaimAll persists and claims everything unclaimed, for a channel whose
// session ended or at shutdown.
func (s *Seller) ClaimAll(ctx context.Context) error {
	if err := s.persist(); err != nil {
		return err
	}
	s.claimAbove(ctx, 1)
	return s.persist()
}

// ClaimStored claims what an earlier run persisted but never claimed: after
// a crash the seller still redeems every payment it had made durable.
func (s *Seller) ClaimStored(ctx context.Context) error {
	if s.store == nil || s.cfg.Claim == nil {
		return nil
	}
	all, err := s.store.All()
	if err != nil {
		return err
	}
	for ch, b := range all {
		if b.Value() <= b.Claimed {
			continue
		}
		claimed, err := s.cfg.Claim(ctx, ch, b)
		if err != nil {
			s.log.Warn("claim of stored payment failed", "channel", ch, "err", err)
			continue
		}
		b.Claimed = claimed
		if err := s.store.Put(ch, b); err != nil {
			return err
		}
	}
	return nil
}
