package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/pay/seller"
	"github.com/x402/x402/pay/session"
	"github.com/x402/x402/proxy"
	"github.com/x402/x402/shard"
)

// payments is the node's selling-for-money side: the seller's channels and
// credit gate, and the payment session server buyers pay through.
type payments struct {
	n       *Node
	key     ed25519.PrivateKey
	ledger  ledger.Client
	domain  pay.Domain
	seller  *seller.Seller
	store   *seller.Store
	server  *session.Server
	every   uint64
	welcome session.Welcome // terms and proxy addresses, without credentials

	ctx  context.Context // the node's: ends at shutdown
	mu   sync.Mutex
	live map[pay.ChannelID]*liveSession
}

// liveSession is a channel with a payment session: a buyer's newer session
// replaces its older one, so the count of open sessions decides when the
// channel stops getting statements.
type liveSession struct {
	sessions int
	seq      uint64
	reported seller.Usage
	unwatch  context.CancelFunc // stops watchChannel
}

// startPayments opens the seller's state and reads the ledger's genesis.
func (n *Node) startPayments(ctx context.Context, stateDir string) (*payments, error) {
	pc := n.cfg.Payments
	if n.opts.Key == nil {
		return nil, errors.New("payments: the node's key is required")
	}
	asset, price, threshold, err := pc.terms()
	if err != nil {
		return nil, err
	}
	lc := n.opts.Ledger
	switch {
	case lc != nil:
	case pc.Genesis != "":
		sg, err := shard.LoadGenesis(n.cfg.resolve(pc.Genesis))
		if err != nil {
			return nil, fmt.Errorf("payments.genesis: %w", err)
		}
		sc, err := shard.DialLedger(sg, n.log)
		if err != nil {
			return nil, fmt.Errorf("payments.genesis: %w", err)
		}
		n.shardClient = sc
		lc = sc
	case pc.Ledger != "":
		lc = ledger.NewHTTPClient(pc.Ledger)
	default:
		return nil, errors.New("payments: set ledger (an HTTP URL) or genesis (a shard genesis file)")
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	g, err := lc.Genesis(gctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("payments: ledger %s: %w", pc.Ledger, err)
	}
	if br, ok := lc.(ledger.BindingReader); ok && g.RequireSIMForSellers {
		me := pay.AccountOf(n.opts.Key.Public().(ed25519.PublicKey))
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, bound, err := br.Binding(bctx, me)
		cancel()
		switch {
		case err != nil:
			return nil, fmt.Errorf("payments: ledger %s: read the SIM binding of %s: %w", pc.Ledger, me, err)
		case !bound:
			return nil, fmt.Errorf("payments: ledger %q requires SIM-anchored sellers and account %s is not bound to a SIM; register it with: x402 init --dir DIR --register --sim --commitment-key HEX --ledger URL", g.Chain, me)
		case !b.SIMAnchored():
			return nil, fmt.Errorf("payments: ledger %q requires SIM-anchored sellers and account %s is bound to a %s identity, not a SIM", g.Chain, me, b.Source)
		}
	}
	p := &payments{n: n, key: n.opts.Key, ledger: lc, domain: g.Domain(), every: pc.StatementEvery, live: map[pay.ChannelID]*liveSession{}}
	if p.every == 0 {
		p.every = DefaultStatementEvery
	}
	if p.store, err = seller.OpenStore(filepath.Join(stateDir, "seller.db")); err != nil {
		return nil, err
	}
	me := pay.AccountOf(p.key.Public().(ed25519.PublicKey))
	p.seller = seller.New(seller.Config{
		Domain: p.domain, Seller: me, Asset: asset, PricePerGiB: price,
		CreditWindow: pc.CreditWindow, Grace: pc.Grace.Duration, ClaimThreshold: threshold,
		// A quarter of the statement interval: statements go out at most
		// that late, without waking the statement loop on every chunk.
		UsageSignalBytes: p.every / 4,
		Claim:            p.claim, Logger: n.log,
	}, p.store)
	p.welcome = session.Welcome{Asset: asset, PricePerGiB: price, CreditWindow: pc.CreditWindow, StatementEvery: p.every}
	if p.welcome.CreditWindow == 0 {
		p.welcome.CreditWindow = 64 << 10
	}
	return p, nil
}

// claim redeems b on the ledger and returns the channel's claimed total.
func (p *payments) claim(ctx context.Context, ch pay.ChannelID, b seller.Best) (pay.Amount, error) {
	_, err := ledger.SubmitBody(ctx, p.ledger, p.domain, p.key, ledger.Claim{Voucher: b.Voucher, Ticks: b.Ticks, Preimage: b.Preimage})
	st, rerr := p.ledger.Channel(ctx, ch)
	if rerr != nil {
		return 0, errors.Join(err, rerr)
	}
	if err != nil && st.Claimed < b.Value() {
		return st.Claimed, err
	}
	return st.Claimed, nil
}

// authenticator accepts the static buyers and the channels' credentials.
func (p *payments) authenticator(static proxy.Authenticator) proxy.Authenticator {
	return multiAuth{p.seller, static}
}

type multiAuth []proxy.Authenticator

func (m multiAuth) Authenticate(user, pass string) (string, bool) {
	for _, a := range m {
		if buyer, ok := a.Authenticate(user, pass); ok {
			return buyer, true
		}
	}
	return "", false
}

// serve starts the session server and the seller's background work; the
// proxies' addresses are known by now.
func (p *payments) serve(ctx context.Context, socksAddr, httpAddr string) error {
	p.ctx = ctx
	p.welcome.SOCKS5 = p.publicAddr(socksAddr)
	p.welcome.HTTP = p.publicAddr(httpAddr)
	var err error
	if p.server, err = session.Listen(p.n.cfg.Payments.Listen, p.key, p.domain, p, p.n.log); err != nil {
		return fmt.Errorf("payments.listen: %w", err)
	}
	p.n.wg.Add(4)
	go func() { defer p.n.wg.Done(); p.server.Serve(ctx) }()
	go func() { defer p.n.wg.Done(); p.seller.Run(ctx) }()
	go func() { defer p.n.wg.Done(); p.statements(ctx) }()
	go func() {
		defer p.n.wg.Done()
		if err := p.seller.ClaimStored(ctx); err != nil {
			p.n.log.Warn("claiming payments stored by an earlier run failed", "err", err)
		}
	}()
	return nil
}

// publicAddr replaces an unspecified listener host with payments.public_host.
func (p *payments) publicAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || addr == "" {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() && p.n.cfg.Payments.PublicHost != "" {
		return net.JoinHostPort(p.n.cfg.Payments.PublicHost, port)
	}
	return addr
}

// Addr is the payment session's UDP address.
func (p *payments) addr() string { return p.server.Addr().String() }

// Open implements session.SellerHandler: the channel must be open on the
// ledger, this node its seller and the caller its buyer.
func (p *payments) Open(ctx context.Context, buyer pay.Account, ch pay.ChannelID) (session.Welcome, error) {
	st, err := p.ledger.Channel(ctx, ch)
	if err != nil {
		return session.Welcome{}, fmt.Errorf("channel %s: %w", ch, err)
	}
	me := pay.AccountOf(p.key.Public().(ed25519.PublicKey))
	switch {
	case st.Seller != me:
		return session.Welcome{}, fmt.Errorf("channel %s pays %s, not this node", ch, st.Seller)
	case st.Buyer != buyer:
		return session.Welcome{}, fmt.Errorf("channel %s belongs to another buyer", ch)
	case st.Status != "open":
		return session.Welcome{}, fmt.Errorf("channel %s is %s", ch, st.Status)
	}
	terms, err := p.seller.Admit(seller.Channel{ID: ch, Buyer: st.Buyer, Asset: st.Asset, Deposit: st.Deposit}, p.n.meter.Buyer(seller.BuyerID(ch)))
	if err != nil {
		return session.Welcome{}, err
	}
	w := p.welcome
	w.User, w.Password = terms.User, terms.Password
	p.mu.Lock()
	ls := p.live[ch]
	if ls == nil {
		wctx, unwatch := context.WithCancel(p.ctx)
		ls = &liveSession{unwatch: unwatch}
		p.live[ch] = ls
		p.n.wg.Add(1)
		go func() { defer p.n.wg.Done(); p.watchChannel(wctx, ch, st.Challenge) }()
	}
	ls.sessions++
	p.mu.Unlock()
	p.n.log.Info("buyer admitted", "channel", ch, "buyer", buyer, "deposit", st.Deposit.Format(st.Asset))
	return w, nil
}

// Voucher implements session.SellerHandler.
func (p *payments) Voucher(_ context.Context, ch pay.ChannelID, v pay.SignedVoucher) (pay.Amount, error) {
	return p.seller.AcceptVoucher(ch, v)
}

// Tick implements session.SellerHandler.
func (p *payments) Tick(ch pay.ChannelID, seq uint64, ticks uint32, preimage [32]byte) {
	p.seller.AcceptTicks(ch, seq, ticks, preimage)
}

// CoopClose implements session.CoopCloser: the seller takes the buyer's
// final voucher, makes it durable and claims it, then co-signs an immediate
// close of the channel, which the buyer submits to the ledger.
func (p *payments) CoopClose(ctx context.Context, ch pay.ChannelID, final pay.SignedVoucher) ([64]byte, error) {
	if _, err := p.seller.AcceptFinal(ch, final); err != nil {
		return [64]byte{}, err
	}
	if err := p.seller.ClaimAll(ctx); err != nil {
		p.n.log.Warn("claim before cooperative close failed", "channel", ch, "err", err)
	}
	return ledger.CoopClose{Voucher: final}.SignSeller(p.domain, p.key).SellerSig, nil
}

// Closed implements session.SellerHandler: everything paid is claimed.
func (p *payments) Closed(ch pay.ChannelID, err error) {
	p.mu.Lock()
	if ls := p.live[ch]; ls != nil {
		if ls.sessions--; ls.sessions <= 0 {
			ls.unwatch()
			delete(p.live, ch)
		}
	}
	p.mu.Unlock()
	p.n.log.Info("payment session ended", "channel", ch, "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.seller.ClaimAll(ctx); err != nil {
		p.n.log.Warn("claim after session end failed", "channel", ch, "err", err)
	}
}

// DefaultStatementEvery is how many relayed bytes a statement covers by
// default. Buyers pay ahead (see buyer.Limits.PrepayBytes), so statements
// need not keep pace with the credit window; one per 16 MiB (or per
// statementFlush, whichever comes first) keeps the payment traffic near
// 0.005% of the relayed bytes and the signing, checking and fsyncing of
// payments (about 0.2 ms per statement cycle) within 5% of a relay's CPU
// at loopback speed. It must stay well below the buyer's prepayment
// (32 MiB by default), or the relay pauses between statements.
const DefaultStatementEvery = 16 << 20

// statementFlush is how often a channel whose usage grew less than
// statement_every still gets a statement, so slow buyers see their bill.
const statementFlush = 200 * time.Millisecond

// statements sends each live channel a signed usage statement whenever its
// usage grew by statement_every bytes, when it paused (so the buyer can pay
// before it is cut), and at least every statementFlush while it grows at all.
func (p *payments) statements(ctx context.Context) {
	t := time.NewTicker(statementFlush)
	defer t.Stop()
	for {
		flush := false
		select {
		case <-ctx.Done():
			return
		case <-p.seller.UsageChanged():
		case <-t.C:
			flush = true
		}
		for _, st := range p.dueStatements(flush) {
			// Sent outside p.mu: a send may wait on the session's stream.
			if err := p.server.SendStatement(st.Channel, st); err != nil {
				p.n.log.Debug("statement not sent", "channel", st.Channel, "err", err)
			}
		}
	}
}

// dueStatements returns the statements to send now: for each live channel
// whose usage grew by statement_every bytes, or that paused, or (flush) grew
// at all.
func (p *payments) dueStatements(flush bool) []session.Statement {
	p.mu.Lock()
	defer p.mu.Unlock()
	var due []session.Statement
	for ch, ls := range p.live {
		u, err := p.seller.Usage(ch)
		if err != nil || u == ls.reported {
			continue
		}
		grown := (u.BytesUp + u.BytesDown) - (ls.reported.BytesUp + ls.reported.BytesDown)
		if grown < p.every && !flush && !p.seller.Paused(ch) {
			continue
		}
		ls.seq++
		ls.reported = u
		// Wake this loop again exactly when the next statement is due.
		p.seller.SignalUsageAt(ch, u.BytesUp+u.BytesDown+p.every)
		due = append(due, session.Statement{Channel: ch, Seq: ls.seq, BytesUp: u.BytesUp, BytesDown: u.BytesDown, Owed: u.Owed})
	}
	return due
}

// close stops the session server and claims everything, then closes the
// seller's state.
func (p *payments) close(ctx context.Context) error {
	var errs []error
	if p.server != nil {
		errs = append(errs, p.server.Close())
	}
	errs = append(errs, p.seller.ClaimAll(ctx))
	return errors.Join(errs...)
}

// status merges the seller's per-channel money into the buyers' usage.
func (p *payments) status() map[string]seller.ChannelStatus {
	out := map[string]seller.ChannelStatus{}
	for _, s := range p.seller.Status() {
		out[s.BuyerID] = s
	}
	return out
}

var _ meter.Gate = (*seller.Seller)(nil)
