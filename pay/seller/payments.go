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
	c.prev, c.best = c.best, Best{Voucher: v, Claimed: c.best.Claimed}
	s.markDirtyLocked(c)
	return v.Cumulative, nil
}

// AcceptFinal takes the buyer's final voucher for a cooperative close. It
// may be worth less than the payments held: the buyer pays ahead of its
// usage, and the final voucher asks back what it paid ahead. The seller
// takes any final voucher that covers what the channel owes, less the
// credit window it extends anyway, and that is not below what it has
// already claimed on the ledger.
func (s *Seller) AcceptFinal(ch pay.ChannelID, v pay.SignedVoucher) (pay.Amount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[BuyerID(ch)]
	switch {
	case c == nil:
		return 0, fmt.Errorf("final voucher for channel %s, which is not admitted", ch)
	case v.Channel != ch:
		return 0, fmt.Errorf("final voucher is for channel %s, not %s", v.Channel, ch)
	}
	_, _, owed := s.owedLocked(c)
	if slack := pay.OwedForBytes(s.cfg.CreditWindow, s.cfg.PricePerGiB); v.Cumulative+slack < owed {
		return 0, fmt.Errorf("final voucher %s falls short of the %s owed", v.Cumulative.Format(s.cfg.Asset), owed.Format(s.cfg.Asset))
	}
	held := c.best
	if held.Voucher.Seq == v.Seq && held.Voucher.Sig == v.Sig && held.Ticks == 0 {
		return v.Cumulative, nil
	}
	if err := v.Verify(s.cfg.Domain, c.Buyer); err != nil {
		return 0, err
	}
	switch {
	case v.Seq <= held.Voucher.Seq:
		return 0, fmt.Errorf("final voucher seq %d is not above the held seq %d", v.Seq, held.Voucher.Seq)
	case v.Cumulative < held.Claimed:
		return 0, fmt.Errorf("final voucher %s is below the %s already claimed", v.Cumulative.Format(s.cfg.Asset), held.Claimed.Format(s.cfg.Asset))
	case v.Cumulative > c.Deposit:
		return 0, fmt.Errorf("final voucher %s exceeds the channel deposit %s", v.Cumulative.Format(s.cfg.Asset), c.Deposit.Format(s.cfg.Asset))
	}
	c.prev, c.best = Best{}, Best{Voucher: v, Claimed: held.Claimed}
	s.markDirtyLocked(c)
	return v.Cumulative, nil
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

// markDirtyLocked queues c's best payment for the persister: at once when
// the credit it buys may soon be needed, else with the next periodic
// persist (Config.PersistEvery), which halves the fsyncs of a buyer paying
// ahead. Acquire asks again as the relay spends the credit left.
func (s *Seller) markDirtyLocked(c *channel) {
	s.dirty[c] = struct{}{}
	if s.persistNowLocked(c) {
		s.kickPersister()
	}
}

func (s *Seller) kickPersister() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// persistNowLocked reports whether c's newest payment must be made durable
// at once: its relays wait for credit, or the durable credit they have left
// is less than twice what the newest payments would add (so waiting for the
// periodic persist could pause them).
func (s *Seller) persistNowLocked(c *channel) bool {
	if !c.pausedSince.IsZero() || c.meter == nil {
		return true
	}
	covered := bytesCovered(c.durable, s.cfg.PricePerGiB)
	extra := bytesCovered(c.best.Value(), s.cfg.PricePerGiB)
	if extra <= covered {
		return false // a claim's bookkeeping, or a final voucher: no credit to extend
	}
	extra -= covered
	u := c.meter.Usage()
	spent := u.BytesUp + u.BytesDown + uint64(max(c.outstanding, 0))
	limit := covered + s.cfg.CreditWindow
	if limit < covered { // saturated: a free price
		return false
	}
	headroom := limit - min(spent, limit)
	return headroom/2 < extra
}

// Run persists new best payments (fsync) and only then extends the credit
// they buy, and claims unclaimed value above the threshold. It returns when
// ctx ends, after a last persist.
func (s *Seller) Run(ctx context.Context) error {
	claimTick := time.NewTicker(time.Second)
	defer claimTick.Stop()
	persistTick := time.NewTicker(s.cfg.PersistEvery)
	defer persistTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.persist()
		case <-s.kick:
		case <-persistTick.C:
		case <-claimTick.C:
			s.claimAbove(ctx, s.cfg.ClaimThreshold)
			continue
		}
		if err := s.persist(); err != nil {
			s.log.Error("persisting payments failed; credit is not extended", "err", err)
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
		if !b.newerThan(c.durableBest) {
			continue
		}
		c.durableBest = b
		if v := b.Value(); v != c.durable {
			c.durable = v
			s.changedLocked(c)
		}
	}
	s.mu.Unlock()
	return nil
}

// claimAbove claims every channel whose unclaimed durable value, up to
// what the channel owes, is at least threshold. What the buyer paid ahead
// of its usage is left unclaimed, so a cooperative close can refund it.
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
		if c.best.newerThan(c.durableBest) {
			continue // claim only what is on disk
		}
		_, _, owed := s.owedLocked(c)
		b := c.claimable(owed)
		if v := b.Value(); v > b.Claimed && v-b.Claimed >= threshold {
			jobs = append(jobs, job{c, b})
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
