package seller

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay"
)

// Config sets the seller's terms and limits.
type Config struct {
	Domain      pay.Domain
	Seller      pay.Account
	Asset       pay.Asset
	PricePerGiB pay.Amount
	// CreditWindow is how many bytes a buyer may run beyond what its
	// durable payments cover. Default 64 KiB.
	CreditWindow uint64
	// Grace is how long a paused buyer may stay unpaid before its
	// connections are cut. Default 10s.
	Grace time.Duration
	// ClaimThreshold triggers an automatic claim when a channel's unclaimed
	// durable value reaches it. Default 0.01 units.
	ClaimThreshold pay.Amount
	// UsageSignalBytes is how much a channel relays between two signals on
	// UsageChanged, unless SignalUsageAt set the next one (a pause always
	// signals). 0: every relayed chunk.
	UsageSignalBytes uint64
	// PersistEvery bounds how long a payment waits to be made durable when
	// nothing needs its credit yet (a payment whose credit may soon be
	// needed is made durable at once). Default 100ms.
	PersistEvery time.Duration
	// Claim redeems b on the ledger and returns the channel's total claimed
	// value afterwards. Nil: nothing is claimed (tests of the gate alone).
	Claim  func(ctx context.Context, ch pay.ChannelID, b Best) (pay.Amount, error)
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.CreditWindow == 0 {
		c.CreditWindow = 64 << 10
	}
	if c.Grace <= 0 {
		c.Grace = 10 * time.Second
	}
	if c.PersistEvery <= 0 {
		c.PersistEvery = 100 * time.Millisecond
	}
	if c.ClaimThreshold == 0 {
		c.ClaimThreshold = pay.Nano / 100
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ErrCut is returned to relays of a buyer that stayed unpaid past the grace
// period.
var ErrCut = errors.New("seller: buyer cut off for not paying")

// Channel is what the seller knows of a channel from the ledger.
type Channel struct {
	ID      pay.ChannelID
	Buyer   pay.Account
	Asset   pay.Asset
	Deposit pay.Amount
}

// Seller tracks every admitted channel. It implements meter.Gate and
// proxy.Authenticator.
type Seller struct {
	cfg   Config
	store *Store
	log   *slog.Logger

	mu     sync.Mutex
	chans  map[string]*channel // by meter buyer id (BuyerID)
	byUser map[string]*channel
	dirty  map[*channel]struct{}
	kick   chan struct{} // wakes the persister
	// persistMu runs one persist at a time, so a caller of persist sees its
	// own result (a concurrent one may hold the dirty batch it expects).
	persistMu sync.Mutex
	usage     chan struct{} // signalled when a channel's usage grew or it paused
}

type channel struct {
	Channel
	user     string
	passHash [32]byte
	meter    *meter.Buyer

	// Guarded by Seller.mu.
	best        Best
	prev        Best       // the best payment before the newest voucher replaced it
	durableBest Best       // the newest best payment known to be on disk
	durable     pay.Amount // its value: what credit is extended against
	outstanding int64      // bytes granted to relays and not yet released
	pausedSince time.Time
	pauses      uint64        // times its relays waited for payment
	pausedFor   time.Duration // how long they waited, in all
	signalAt    uint64        // its usage at which UsageChanged is signalled next
	maxUnpaid   uint64        // most bytes ever relayed or granted beyond durable payments
	cut         bool
	changed     chan struct{} // closed and replaced on every change
}

// New returns a seller over store, which may hold best payments from an
// earlier run.
func New(cfg Config, store *Store) *Seller {
	cfg = cfg.withDefaults()
	return &Seller{
		cfg:    cfg,
		store:  store,
		log:    cfg.Logger,
		chans:  map[string]*channel{},
		byUser: map[string]*channel{},
		dirty:  map[*channel]struct{}{},
		kick:   make(chan struct{}, 1),
		usage:  make(chan struct{}, 1),
	}
}

// BuyerID is the meter's buyer id for a channel.
func BuyerID(ch pay.ChannelID) string { return "ch-" + ch.String()[:16] }

// Terms are what Admit tells the buyer.
type Terms struct {
	User, Password string
	Asset          pay.Asset
	PricePerGiB    pay.Amount
	CreditWindow   uint64
}

// Admit registers a channel of the ledger for this seller and returns fresh
// proxy credentials bound to it. A channel admitted again (the buyer
// reconnected, or the seller restarted) keeps its best payment.
func (s *Seller) Admit(ch Channel, meterBuyer *meter.Buyer) (Terms, error) {
	if ch.Asset != s.cfg.Asset {
		return Terms{}, fmt.Errorf("channel %s is in %s; this seller is paid in %s", ch.ID, ch.Asset, s.cfg.Asset)
	}
	pass := make([]byte, 18)
	if _, err := rand.Read(pass); err != nil {
		return Terms{}, fmt.Errorf("admit channel %s: %w", ch.ID, err)
	}
	password := hex.EncodeToString(pass)
	id := BuyerID(ch.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[id]
	if c == nil {
		c = &channel{Channel: ch, meter: meterBuyer, changed: make(chan struct{})}
		if stored, err := s.storedBest(ch.ID); err != nil {
			return Terms{}, err
		} else if stored != nil {
			c.best, c.durableBest, c.durable = *stored, *stored, stored.Value()
		}
		s.chans[id] = c
	}
	if c.cut {
		return Terms{}, fmt.Errorf("channel %s was cut off for not paying", ch.ID)
	}
	delete(s.byUser, c.user)
	c.user = id
	c.passHash = sha256.Sum256([]byte(password))
	s.byUser[c.user] = c
	return Terms{User: c.user, Password: password, Asset: s.cfg.Asset, PricePerGiB: s.cfg.PricePerGiB, CreditWindow: s.cfg.CreditWindow}, nil
}

func (s *Seller) storedBest(ch pay.ChannelID) (*Best, error) {
	if s.store == nil {
		return nil, nil
	}
	all, err := s.store.All()
	if err != nil {
		return nil, err
	}
	if b, ok := all[ch]; ok {
		return &b, nil
	}
	return nil, nil
}

// Authenticate implements proxy.Authenticator for channel credentials.
func (s *Seller) Authenticate(user, pass string) (string, bool) {
	got := sha256.Sum256([]byte(pass))
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byUser[user]
	if c == nil || c.cut || subtle.ConstantTimeCompare(got[:], c.passHash[:]) != 1 {
		return "", false
	}
	return c.user, true
}

// Acquire implements meter.Gate: it grants up to want bytes within the
// buyer's credit, blocks while the buyer is paused, and cuts the buyer off
// once it has been paused for the grace period. Buyers that are not payment
// channels (the node's static buyers) are not gated.
func (s *Seller) Acquire(ctx context.Context, b *meter.Buyer, want int64) (int64, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		c := s.chans[b.ID()]
		if c == nil {
			s.mu.Unlock()
			return want, ctx.Err()
		}
		if c.cut {
			s.mu.Unlock()
			return 0, ErrCut
		}
		if avail := s.availableLocked(c, b); avail > 0 {
			grant := min(want, avail)
			c.outstanding += grant
			s.noteExposureLocked(c, b)
			if _, dirty := s.dirty[c]; dirty && s.persistNowLocked(c) {
				s.kickPersister() // the relay nears the durable credit: make the newer payment durable before it pauses
			}
			if !c.pausedSince.IsZero() {
				c.pausedFor += time.Since(c.pausedSince)
				c.pausedSince = time.Time{}
			}
			s.mu.Unlock()
			return grant, nil
		}
		now := time.Now()
		if c.pausedSince.IsZero() {
			c.pausedSince = now
			c.pauses++
			s.signalUsage() // the buyer needs a statement to pay for
			if _, ok := s.dirty[c]; ok {
				s.kickPersister() // payments already here buy the credit it waits for
			}
			s.log.Debug("buyer paused: credit window used up", "channel", c.ID, "paid", c.best.Value().Format(s.cfg.Asset))
		}
		remaining := s.cfg.Grace - now.Sub(c.pausedSince)
		if remaining <= 0 {
			s.cutLocked(c, "unpaid past the grace period of "+s.cfg.Grace.String())
			s.mu.Unlock()
			return 0, ErrCut
		}
		wait := c.changed
		s.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(remaining)
		} else {
			timer.Reset(remaining)
		}
		select {
		case <-wait:
		case <-timer.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// availableLocked is the credit left: durable payments plus the window,
// minus bytes relayed and bytes granted but not yet relayed.
func (s *Seller) availableLocked(c *channel, b *meter.Buyer) int64 {
	u := b.Usage()
	limit := bytesCovered(c.durable, s.cfg.PricePerGiB)
	if limit > math.MaxUint64-s.cfg.CreditWindow {
		return math.MaxInt64
	}
	limit += s.cfg.CreditWindow
	spent := u.BytesUp + u.BytesDown + uint64(c.outstanding)
	if spent >= limit {
		return 0
	}
	return int64(min(limit-spent, math.MaxInt64))
}

// noteExposureLocked records the seller's exposure to the channel's buyer:
// bytes relayed or granted beyond what its durable payments cover. The
// credit window bounds it; the high-water mark shows it in a run.
func (s *Seller) noteExposureLocked(c *channel, b *meter.Buyer) {
	u := b.Usage()
	spent := u.BytesUp + u.BytesDown + uint64(max(c.outstanding, 0))
	if covered := bytesCovered(c.durable, s.cfg.PricePerGiB); spent > covered && spent-covered > c.maxUnpaid {
		c.maxUnpaid = spent - covered
	}
}

// MaxHold implements meter.HoldLimiter: a stalled chunk gives its unused
// credit back within 50ms.
func (s *Seller) MaxHold() time.Duration { return 50 * time.Millisecond }

// Release implements meter.Gate.
func (s *Seller) Release(b *meter.Buyer, granted, used int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[b.ID()]
	if c == nil {
		return
	}
	c.outstanding -= granted
	if used > 0 {
		u := b.Usage()
		if total := u.BytesUp + u.BytesDown; total >= c.signalAt {
			c.signalAt = total + s.cfg.UsageSignalBytes
			s.signalUsage()
		}
	}
	if used < granted {
		s.changedLocked(c) // returned credit may unblock another relay
	}
}

// UsageChanged is signalled (coalesced) whenever a channel's usage reached
// the mark SignalUsageAt set (or grew by UsageSignalBytes) or it paused, so
// statements go out as soon as they are due.
func (s *Seller) UsageChanged() <-chan struct{} { return s.usage }

// SignalUsageAt asks for a signal on UsageChanged once channel ch has
// relayed bytes in all: when its next statement is due.
func (s *Seller) SignalUsageAt(ch pay.ChannelID, bytes uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chans[BuyerID(ch)]; c != nil {
		c.signalAt = bytes
	}
}

func (s *Seller) signalUsage() {
	select {
	case s.usage <- struct{}{}:
	default:
	}
}

func (s *Seller) changedLocked(c *channel) {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (s *Seller) cutLocked(c *channel, why string) {
	if c.cut {
		return
	}
	c.cut = true
	delete(s.byUser, c.user)
	s.changedLocked(c)
	s.log.Warn("buyer cut off", "channel", c.ID, "why", why)
}

// Cut cuts channel ch's buyer off for good: its relays end at their next
// chunk and its credentials stop working. why is logged.
func (s *Seller) Cut(ch pay.ChannelID, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chans[BuyerID(ch)]; c != nil {
		s.cutLocked(c, why)
	}
}

// Owed is what the channel's buyer owes for the bytes it relayed so far.
func (s *Seller) owedLocked(c *channel) (up, down uint64, owed pay.Amount) {
	if c.meter == nil {
		return 0, 0, 0
	}
	u := c.meter.Usage()
	return u.BytesUp, u.BytesDown, pay.OwedForBytes(u.BytesUp+u.BytesDown, s.cfg.PricePerGiB)
}

// Paused reports whether the channel's relays wait for payment.
func (s *Seller) Paused(ch pay.ChannelID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[BuyerID(ch)]
	return c != nil && !c.pausedSince.IsZero()
}

// Usage is what a statement reports for a channel.
type Usage struct {
	BytesUp, BytesDown uint64
	Owed               pay.Amount
}

// Usage returns the channel's usage and what it owes.
func (s *Seller) Usage(ch pay.ChannelID) (Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chans[BuyerID(ch)]
	if c == nil {
		return Usage{}, fmt.Errorf("channel %s is not admitted", ch)
	}
	up, down, owed := s.owedLocked(c)
	return Usage{BytesUp: up, BytesDown: down, Owed: owed}, nil
}

// ChannelStatus is one channel's money as the admin API reports it.
type ChannelStatus struct {
	Channel pay.ChannelID `json:"channel"`
	BuyerID string        `json:"buyer_id"`
	Owed    pay.Amount    `json:"owed_nano"`
	Paid    pay.Amount    `json:"paid_nano"`
	Durable pay.Amount    `json:"durable_nano"`
	Claimed pay.Amount    `json:"claimed_nano"`
	Pauses  uint64        `json:"pauses"` // times its relays waited for payment
	// PausedMillis is how long its relays waited for payment, in all.
	PausedMillis int64 `json:"paused_ms"`
	// MaxUnpaidBytes is the most the buyer ever ran (relayed or granted)
	// beyond its durable payments: at most the credit window.
	MaxUnpaidBytes uint64 `json:"max_unpaid_bytes"`
	Cut            bool   `json:"cut"`
}

// Status reports every admitted channel, sorted by buyer id.
func (s *Seller) Status() []ChannelStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelStatus, 0, len(s.chans))
	for id, c := range s.chans {
		_, _, owed := s.owedLocked(c)
		out = append(out, ChannelStatus{Channel: c.ID, BuyerID: id, Owed: owed, Paid: c.best.Value(), Durable: c.durable, Claimed: c.best.Claimed, Pauses: c.pauses, PausedMillis: c.pausedFor.Milliseconds(), MaxUnpaidBytes: c.maxUnpaid, Cut: c.cut})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BuyerID < out[j].BuyerID })
	return out
}
