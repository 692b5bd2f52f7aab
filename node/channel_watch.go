package node

import (
	"context"
	"time"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
)

// watchInterval is how often a live channel's state is read from the
// ledger: four times per challenge period, at most once a second and at
// least every 25 ms, so a unilateral close is noticed well before the
// buyer may finalize it.
func watchInterval(challenge time.Duration) time.Duration {
	return min(max(challenge/4, 25*time.Millisecond), time.Second)
}

// watchChannel reads ch from the ledger while its payment session lives.
// Once the channel is no longer open — its buyer started a unilateral
// close (or it settled) — vouchers on it may soon be worthless: the buyer
// is cut off and everything it owes is claimed within the challenge
// period, while claims are still accepted.
func (p *payments) watchChannel(ctx context.Context, ch pay.ChannelID, challenge time.Duration) {
	tick := time.NewTicker(watchInterval(challenge))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := p.ledger.Channel(ctx, ch)
		if err != nil {
			if ctx.Err() == nil {
				p.n.log.Debug("reading a live channel failed", "channel", ch, "err", err)
			}
			continue
		}
		if st.Status == ledger.StatusOpen {
			continue
		}
		p.seller.Cut(ch, "the channel is "+string(st.Status)+" on the ledger")
		if err := p.seller.ClaimAll(ctx); err != nil {
			p.n.log.Warn("claim of a closing channel failed", "channel", ch, "err", err)
		}
		return
	}
}
