package buyer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/pay/seller"
	"github.com/x402/x402/pay/session"
	"github.com/x402/x402/proxy"
)

// AgentConfig is what the buyer agent needs to buy bandwidth from one seller.
type AgentConfig struct {
	Key        ed25519.PrivateKey
	Ledger     ledger.Client
	SellerAddr string      // the seller's payment session (QUIC) address
	Seller     pay.Account // the seller's account, checked in TLS
	Asset      pay.Asset
	Deposit    pay.Amount
	Challenge  time.Duration  // of a newly opened channel
	Channel    *pay.ChannelID // reuse this open channel instead of opening one
	Limits     Limits
	// ListenSOCKS5 and ListenHTTP, when set, serve a local endpoint that
	// forwards to the seller with the channel's credentials and counts the
	// bytes, so the agent never pays for more than it counted.
	ListenSOCKS5, ListenHTTP string
	// ClaimWait is how long Close waits for the seller to claim the final
	// payment before starting the close on the ledger. Default 5s.
	ClaimWait time.Duration
	// TickBytes is what one hash-chain tick pays for, at the seller's price:
	// the granularity of payments between vouchers. Default 64 KiB, so the
	// seller's default credit window (64 KiB) can be paid tick by tick.
	TickBytes uint64
	// ChainLength is the number of ticks a voucher's hash chain commits to
	// (the buyer signs a new voucher when it runs out). Default 4096.
	ChainLength int
	Logger      *slog.Logger
}

// Defaults of AgentConfig.
const (
	DefaultTickBytes   = 64 << 10
	DefaultChainLength = 4096
)

// Agent is a running buyer: a channel, its payment session, and optionally
// a local endpoint.
type Agent struct {
	cfg     AgentConfig
	domain  pay.Domain
	channel pay.ChannelID
	sess    *session.BuyerSession
	welcome session.Welcome
	log     *slog.Logger

	local         *proxy.Proxy
	localMeter    *meter.Meter
	socksL, httpL net.Listener
	localUser     string
	localPass     string
	serveWG       sync.WaitGroup

	mu      sync.Mutex
	closing bool // Close has taken over the payments
	payer   *Payer
	last    session.Statement
	statedC chan struct{} // closed and replaced on every statement
	payErr  error
	payDone chan struct{}
}

// StartAgent opens (or reuses) the channel, starts the payment session and
// the local endpoint, and begins paying statements.
func StartAgent(ctx context.Context, cfg AgentConfig) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g, err := cfg.Ledger.Genesis(ctx)
	if err != nil {
		return nil, fmt.Errorf("buyer: read ledger genesis: %w", err)
	}
	a := &Agent{cfg: cfg, domain: g.Domain(), log: cfg.Logger, statedC: make(chan struct{}), payDone: make(chan struct{})}
	if cfg.Channel != nil {
		a.channel = *cfg.Channel
	} else {
		r, err := ledger.SubmitBody(ctx, cfg.Ledger, a.domain, cfg.Key, ledger.OpenChannel{Seller: cfg.Seller, Asset: cfg.Asset, Deposit: cfg.Deposit, Challenge: cfg.Challenge})
		if err != nil {
			return nil, fmt.Errorf("buyer: open channel: %w", err)
		}
		a.channel = r.Channel
	}
	chState, err := cfg.Ledger.Channel(ctx, a.channel)
	if err != nil {
		return nil, fmt.Errorf("buyer: read channel %s: %w", a.channel, err)
	}
	a.sess, err = session.Dial(ctx, cfg.SellerAddr, cfg.Seller, cfg.Key, a.domain, a.channel, a.log)
	if err != nil {
		return nil, fmt.Errorf("buyer: payment session with %s: %w", cfg.SellerAddr, err)
	}
	a.welcome = a.sess.Welcome()
	tickBytes, chainLen := cfg.TickBytes, cfg.ChainLength
	if tickBytes == 0 {
		tickBytes = DefaultTickBytes
	}
	if chainLen == 0 {
		chainLen = DefaultChainLength
	}
	a.payer, err = NewPayer(a.domain, cfg.Key, a.channel, chState.Deposit, a.welcome.PricePerGiB, cfg.Limits, tickBytes, chainLen)
	if err != nil {
		a.sess.Close()
		return nil, fmt.Errorf("buyer: %w", err)
	}
	if prepay := cfg.Limits.prepayBytes(); prepay > 0 && a.welcome.StatementEvery >= prepay {
		a.log.Warn("the seller bills less often than this buyer pays ahead: the relay will pause at every bill",
			"statement_every", a.welcome.StatementEvery, "prepay_bytes", prepay)
	}
	if err := a.startLocal(); err != nil {
		a.sess.Close()
		return nil, err
	}
	go a.payLoop()
	return a, nil
}

// Channel is the channel being paid.
func (a *Agent) Channel() pay.ChannelID { return a.channel }

// Welcome is what the seller offered.
func (a *Agent) Welcome() session.Welcome { return a.welcome }

// LocalEndpoints returns the local proxy addresses and their credentials.
func (a *Agent) LocalEndpoints() (socks5, httpAddr, user, pass string) {
	if a.socksL != nil {
		socks5 = a.socksL.Addr().String()
	}
	if a.httpL != nil {
		httpAddr = a.httpL.Addr().String()
	}
	return socks5, httpAddr, a.localUser, a.localPass
}

// Progress is the agent's view of the channel.
type Progress struct {
	Counted     uint64     // bytes the local endpoint counted
	BytesBilled uint64     // bytes the seller's newest statement reports
	Billed      pay.Amount // the most any statement claimed
	Paid        pay.Amount // vouchers and ticks sent
	// WireBytes is the payment session's traffic on the wire, both
	// directions, UDP and IP headers included: the cost of paying.
	WireBytes uint64
}

// Progress reports bytes and money so far.
func (a *Agent) Progress() Progress {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Progress{Counted: a.counted(), BytesBilled: a.last.BytesUp + a.last.BytesDown, Billed: a.payer.Billed(), Paid: a.payer.Paid(),
		WireBytes: a.sess.Wire().Bytes}
}

// counted is what the local endpoint relayed, or 0 without one.
func (a *Agent) counted() uint64 {
	if a.localMeter == nil {
		return 0
	}
	var n uint64
	for _, u := range a.localMeter.Snapshot() {
		n += u.BytesUp + u.BytesDown
	}
	return n
}

// payLoop pays each statement, and pays again as the local endpoint's
// count catches up with the newest one: the seller pauses at its window and
// sends nothing new until paid, so waiting only for statements could stall
// when the buyer's count lagged at the statement's arrival.
func (a *Agent) payLoop() {
	defer close(a.payDone)
	ctx := context.Background()
	var recheck <-chan time.Time // only with a local count to catch up with
	if a.localMeter != nil {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		recheck = t.C
	}
	statements := a.sess.Statements()
	for {
		select {
		case st, ok := <-statements:
			if !ok {
				return
			}
			a.mu.Lock()
			a.last = st.Statement
			close(a.statedC)
			a.statedC = make(chan struct{})
			a.mu.Unlock()
		case <-recheck:
		}
		a.mu.Lock()
		if a.closing {
			a.mu.Unlock()
			continue // Close pays the final statement exactly
		}
		counted := int64(-1)
		if a.localMeter != nil {
			counted = int64(a.counted())
		}
		billed := a.payer.Payable(a.last.Owed, counted)
		pm, err := a.payer.Pay(billed, a.payer.Ahead())
		a.mu.Unlock()
		if err == nil {
			err = a.send(ctx, pm)
		}
		if err != nil {
			a.mu.Lock()
			a.payErr = err
			a.mu.Unlock()
			a.log.Warn("payment failed", "channel", a.channel, "err", err)
		}
	}
}

// send sends a payment: its voucher, acknowledged before its ticks go out
// (the seller drops ticks of a voucher it does not hold yet), then its ticks.
func (a *Agent) send(ctx context.Context, pm Payment) error {
	if pm.Voucher != nil {
		ctx, cancel := context.WithTimeout(ctx, a.ackTimeout())
		_, err := a.sess.SendVoucher(ctx, *pm.Voucher)
		cancel()
		if err != nil {
			return err
		}
	}
	if pm.TickIndex > 0 {
		return a.sess.SendTick(pm.VoucherSeq, pm.TickIndex, pm.Preimage)
	}
	return nil
}

// ackTimeout bounds the wait for a voucher's acknowledgement: long while
// the session is healthy, short once it has ended.
func (a *Agent) ackTimeout() time.Duration {
	select {
	case <-a.sess.Done():
		return 0
	default:
		return 5 * time.Second
	}
}

// Settlement is how a channel ended.
type Settlement struct {
	Channel      pay.ChannelID
	BytesCounted uint64
	BytesBilled  uint64
	Billed       pay.Amount // what the seller's statements claimed
	Paid         pay.Amount // what the buyer's final payment signed over
	Prepay       pay.Amount // its prepayment window: the most it paid ahead of its bills
	WireBytes    uint64     // the payment session's traffic on the wire
	Settled      pay.Amount // what the ledger paid out of the channel
	Refund       pay.Amount // what came back to the buyer
	Cooperative  bool       // closed at once with the seller's co-signature
}

// Close stops the local endpoint, pays the final statement exactly and
// settles the channel: cooperatively (the seller co-signs an immediate
// close) when it can, otherwise by waiting for the seller's claim and then
// start close, challenge period, finalize.
func (a *Agent) Close(ctx context.Context) (Settlement, error) {
	a.stopLocal()
	// Wait until the seller's statements cover what was counted (its
	// statement loop runs behind the relays), or give up after a while.
	final := a.awaitFinalStatement(ctx, 3*time.Second)
	a.mu.Lock()
	a.closing = true
	counted := int64(-1)
	if a.localMeter != nil {
		counted = int64(a.counted())
	}
	target := a.payer.Payable(final.Owed, counted)
	paidAhead := a.payer.Paid()
	pm, err := a.payer.Final(target)
	a.mu.Unlock()
	// A final voucher below what was paid ahead asks the prepayment back:
	// the seller refuses it as a payment and takes it only for a
	// cooperative close, so it goes with the close request alone.
	if err == nil && (pm.Voucher == nil || pm.Voucher.Cumulative >= paidAhead) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second) // the seller may be gone
		err = a.send(sctx, pm)
		cancel()
	}
	if err != nil {
		a.log.Warn("final payment failed", "err", err)
	}
	coop, coopErr := a.coopClose(ctx)
	a.sess.Close()
	<-a.payDone

	p := a.Progress()
	s := Settlement{Channel: a.channel, BytesCounted: p.Counted, BytesBilled: p.BytesBilled, Billed: p.Billed, Paid: p.Paid, Prepay: a.payer.Ahead(), WireBytes: p.WireBytes}
	if coopErr == nil {
		// The seller co-signed: the channel closes at once.
		r, err := ledger.SubmitBody(ctx, a.cfg.Ledger, a.domain, a.cfg.Key, coop)
		if err == nil {
			s.Refund, s.Cooperative = r.Refund, true
			st, err := a.cfg.Ledger.Channel(ctx, a.channel)
			s.Settled = st.Claimed
			return s, err
		}
		a.log.Warn("cooperative close rejected by the ledger; closing unilaterally", "err", err)
	} else {
		a.log.Info("no cooperative close; closing unilaterally", "err", coopErr)
	}
	st, err := a.awaitClaim(ctx, p.Paid)
	if err != nil {
		return s, err
	}
	if st.Status != ledger.StatusSettled {
		if st.Status == ledger.StatusOpen {
			if _, err := ledger.SubmitBody(ctx, a.cfg.Ledger, a.domain, a.cfg.Key, ledger.StartClose{Channel: a.channel}); err != nil {
				return s, fmt.Errorf("buyer: start close: %w", err)
			}
			if err := sleepCtx(ctx, st.Challenge); err != nil {
				return s, err
			}
		}
		var r ledger.Receipt
		for {
			r, err = ledger.SubmitBody(ctx, a.cfg.Ledger, a.domain, a.cfg.Key, ledger.Finalize{Channel: a.channel})
			if err == nil || ctx.Err() != nil || !isTooEarly(err) {
				break
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return s, err
			}
		}
		if err != nil {
			return s, fmt.Errorf("buyer: finalize: %w", err)
		}
		s.Refund = r.Refund
	}
	if st, err = a.cfg.Ledger.Channel(ctx, a.channel); err == nil {
		s.Settled = st.Claimed
	}
	return s, err
}

// coopClose asks the seller to co-sign an immediate close at the newest
// voucher (a zero voucher if nothing was paid).
func (a *Agent) coopClose(ctx context.Context) (ledger.CoopClose, error) {
	a.mu.Lock()
	final, ticks, _ := a.payer.Latest()
	a.mu.Unlock()
	if ticks > 0 {
		return ledger.CoopClose{}, errors.New("the newest voucher has unconfirmed ticks")
	}
	if final.Seq == 0 {
		final = pay.Voucher{Channel: a.channel, Seq: 1}.Sign(a.domain, a.cfg.Key)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sig, err := a.sess.RequestCoopClose(cctx, final)
	if err != nil {
		return ledger.CoopClose{}, err
	}
	return ledger.CoopClose{Voucher: final, SellerSig: sig}, nil
}

func isTooEarly(err error) bool {
	return errors.Is(err, ledger.ErrRejected) && strings.Contains(err.Error(), "challenge period runs until")
}

// awaitFinalStatement waits until a statement covers every byte the local
// endpoint counted, or the seller's statements have settled (none for a
// while: the seller sends one at least every 50ms while usage grows), or
// patience runs out.
func (a *Agent) awaitFinalStatement(ctx context.Context, patience time.Duration) session.Statement {
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	const settled = 500 * time.Millisecond
	quiet := time.NewTimer(settled)
	defer quiet.Stop()
	for {
		a.mu.Lock()
		last, wait := a.last, a.statedC
		counted := a.counted()
		a.mu.Unlock()
		if a.localMeter != nil && last.BytesUp+last.BytesDown >= counted {
			return last
		}
		// Without a local count, the seller's statements settling is the sign
		// that the last one covers everything.
		select {
		case <-wait:
			quiet.Reset(settled)
		case <-quiet.C:
			return last
		case <-deadline.C:
			return last
		case <-ctx.Done():
			return last
		case <-a.sess.Done():
			return last
		}
	}
}

// awaitClaim waits (up to ClaimWait) for the seller to claim paid.
func (a *Agent) awaitClaim(ctx context.Context, paid pay.Amount) (ledger.ChannelState, error) {
	wait := a.cfg.ClaimWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := a.cfg.Ledger.Channel(ctx, a.channel)
		if err != nil {
			return st, fmt.Errorf("buyer: read channel: %w", err)
		}
		if st.Claimed >= paid || st.Status == "settled" || time.Now().After(deadline) {
			return st, nil
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return st, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BuyerID is the seller's meter id for the settled channel.
func (s Settlement) BuyerID() string { return seller.BuyerID(s.Channel) }
