package runtime

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/transport"
)

// Client defaults.
const (
	// DefaultIdentities is how many client identities a Client runs, hence
	// how many of its submissions can be outstanding at once.
	DefaultIdentities = 8
	// DefaultClientTick is the default clock of a client identity; it only
	// times retransmissions.
	DefaultClientTick = 10 * time.Millisecond
	// DefaultRetransmitAfter is the longest an identity waits for f+1
	// matching replies before it broadcasts its request to every replica;
	// DefaultMinRetransmitAfter the shortest. In between, it waits
	// retransmitFactor times the client's smoothed finality, so a dead
	// primary is suspected sooner on a fast shard.
	DefaultRetransmitAfter    = 500 * time.Millisecond
	DefaultMinRetransmitAfter = 150 * time.Millisecond
)

// unsignedRetransmitFactor lets an unsigned request wait longer before it
// is sent again, up to that many times RetransmitAfter (the timeout follows
// the measured finality, so this only matters on a slow shard). On an
// overloaded shard, whose finality exceeds RetransmitAfter, retransmitting
// every request early made each replica handle it about three times, and
// throughput fell as the load grew (BENCHMARKS.md); QUIC already resends
// what a link loses.
const unsignedRetransmitFactor = 4

// ClientConfig configures a Client.
type ClientConfig struct {
	Domain pbft.Domain
	// Replicas are the shard's keys and Addrs their addresses, by id.
	Replicas []ed25519.PublicKey
	Addrs    []string
	// Keys are the client identities; each has at most one outstanding
	// request. When empty, Identities fresh keys are generated
	// (DefaultIdentities if 0). All of them share one connection per
	// replica, made with the first key and attached to by each.
	Keys       []ed25519.PrivateKey
	Identities int
	// TickInterval is the client's clock (DefaultClientTick if 0).
	// RetransmitAfter and MinRetransmitAfter bound the retransmission
	// timeout (DefaultRetransmitAfter and DefaultMinRetransmitAfter if 0),
	// which follows the measured finality in between; it doubles on each
	// retransmission of a request, as the core decides. An unsigned
	// request may wait unsignedRetransmitFactor times RetransmitAfter.
	TickInterval       time.Duration
	RetransmitAfter    time.Duration
	MinRetransmitAfter time.Duration
	// Impairment injects delay and loss on everything the client sends.
	Impairment transport.Impairment
	// Listen is the local UDP address (":0" if empty).
	Listen string
	Logger *slog.Logger
}

// Client submits operations to a shard and returns their results once
// f+1 replicas sent matching replies (2f+1 if they are tentative, see
// pbft.Reply). It is safe for concurrent use: each
// Submit is served by one of its identities, so up to len(identities)
// submissions are in flight at once and the others wait.
type Client struct {
	ep       *transport.Endpoint
	verify   *verifier
	sessions []*session
	byID     map[pbft.ClientID]*session // read-only after Dial
	links    []*transport.Link          // by replica id, shared by the sessions
	jobs     chan *job
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once

	// unsigned maps the outstanding unsigned requests (of client ids that
	// are not the client's identities) to the session driving each.
	unsignedMu sync.Mutex
	unsigned   map[unsignedKey]*session
	// routes says which replicas route the replies of which unsigned
	// client ids to this client.
	routes *routeBook

	// view is the highest view of a result any identity accepted: an
	// identity takes it before it sends a request, so after a view change
	// one identity's retransmission teaches them all the new primary.
	view atomic.Uint64

	// latency is the smoothed finality; the retransmission timeout follows
	// it within [minRetransmit, maxRetransmit].
	latency                      latencyEstimate
	minRetransmit, maxRetransmit time.Duration
}

// retransmitTimeout is how long a request waits for its result before it
// is sent to every replica again: retransmitFactor times the smoothed
// finality, within [minRetransmit, maxRetransmit], the ceiling
// unsignedRetransmitFactor times higher for an unsigned request.
func (c *Client) retransmitTimeout(unsigned bool) time.Duration {
	hi := c.maxRetransmit
	if unsigned {
		hi *= unsignedRetransmitFactor
	}
	return c.latency.timeout(c.minRetransmit, hi)
}

// reply is a message read back on the link to replica from, which the
// link's TLS handshake authenticated by that replica's genesis key.
type reply struct {
	from uint32
	m    pbft.Message
}

type job struct {
	ctx  context.Context
	op   []byte
	req  *pbft.Request  // an unsigned request to drive instead of signing op
	done chan jobResult // buffered: the session never blocks on it
}

type unsignedKey struct {
	client pbft.ClientID
	ts     uint64
}

type jobResult struct {
	value []byte
	err   error
}

// session is one client identity: a pbft.Client and the goroutine that
// drives it over the client's links.
type session struct {
	c       *Client
	core    *pbft.Client
	replies chan reply
	// waiting is the timestamp of the outstanding request (0: none), so
	// the links pass on only the replies that can still matter.
	waiting atomic.Uint64
	tick    time.Duration
	log     *slog.Logger
}

// Dial starts a client of the shard. Connections are made in the
// background; Submit waits for them as needed.
func Dial(cfg ClientConfig) (*Client, error) {
	n := len(cfg.Replicas)
	if n == 0 || len(cfg.Addrs) != n {
		return nil, fmt.Errorf("pbft client: %d addresses for %d replicas", len(cfg.Addrs), n)
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultClientTick
	}
	if cfg.RetransmitAfter <= 0 {
		cfg.RetransmitAfter = DefaultRetransmitAfter
	}
	if cfg.MinRetransmitAfter <= 0 {
		cfg.MinRetransmitAfter = min(DefaultMinRetransmitAfter, cfg.RetransmitAfter)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = ":0"
	}
	keys := cfg.Keys
	if n := max(len(keys), cfg.Identities); n > transport.MaxAttach {
		return nil, fmt.Errorf("pbft client: %d identities, at most %d (they share one connection per replica)", n, transport.MaxAttach)
	}
	if len(keys) == 0 {
		m := cfg.Identities
		if m <= 0 {
			m = DefaultIdentities
		}
		for range m {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, fmt.Errorf("pbft client: %w", err)
			}
			keys = append(keys, k)
		}
	}
	ep, err := transport.ListenEndpoint(cfg.Listen, keys[0], cfg.Impairment)
	if err != nil {
		return nil, fmt.Errorf("pbft client: %w", err)
	}
	c := &Client{ep: ep, verify: newVerifier(cfg.Domain, cfg.Replicas), jobs: make(chan *job),
		byID: make(map[pbft.ClientID]*session, len(keys)), unsigned: map[unsignedKey]*session{}, routes: newRouteBook(n), minRetransmit: cfg.MinRetransmitAfter,
		maxRetransmit: cfg.RetransmitAfter}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	retransmit := ticks(cfg.RetransmitAfter, cfg.TickInterval)
	// Timestamps must grow across restarts of a client with the same key:
	// start from the wall clock.
	first := uint64(time.Now().UnixNano())
	for i, k := range keys {
		core, err := pbft.NewClient(pbft.ClientConfig{Domain: cfg.Domain, Key: k, Replicas: cfg.Replicas,
			RetransmitTimeout: retransmit, Verify: c.verify.Verify}, first)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("pbft client identity %d: %w", i, err)
		}
		s := &session{c: c, core: core, replies: make(chan reply, 64), tick: cfg.TickInterval,
			log: cfg.Logger.With("client", i)}
		c.sessions = append(c.sessions, s)
		c.byID[core.ID()] = s
	}
	// One connection per replica carries every identity (attached by its
	// signature), so replies to many identities share packets.
	for r, pub := range cfg.Replicas {
		deliver := func(m pbft.Message) { c.deliver(uint32(r), m) }
		l, err := ep.NewLink(transport.LinkConfig{Addr: cfg.Addrs[r], Peer: pub, Key: keys[0], Attach: keys, Domain: cfg.Domain,
			OnMessage: deliver, Logger: cfg.Logger})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("pbft client link to replica %d: %w", r, err)
		}
		c.links = append(c.links, l)
	}
	for _, s := range c.sessions {
		c.wg.Add(1)
		go s.run()
	}
	return c, nil
}

// Submit orders op on the shard and returns its result, accepted from f+1
// matching committed replies or 2f+1 tentative ones. It waits for a free identity, then for the result;
// the request is retransmitted to every replica on timeout and follows view
// changes. If ctx ends first, Submit returns its error, but the request
// may still execute (its identity keeps driving it to completion).
func (c *Client) Submit(ctx context.Context, op []byte) ([]byte, error) {
	if len(op) > pbft.MaxOpBytes {
		return nil, fmt.Errorf("pbft client: operation of %d bytes exceeds %d: %w", len(op), pbft.MaxOpBytes, pbft.ErrInvalid)
	}
	return c.submit(ctx, &job{ctx: ctx, op: op, done: make(chan jobResult, 1)})
}

// SubmitUnsigned orders an unsigned request of client at timestamp for op
// (see pbft.UnsignedRequest): the shard's application must authenticate
// it (the ledger does for a transaction signed by client's key whose nonce
// is timestamp), so no signature is made or checked for the request
// itself. The first request of a client id goes to every replica, which
// then routes the id's replies back on this client's connection; later
// ones go to the primary alone while those connections last (see
// routeBook), and to every replica on timeout. As Submit otherwise,
// except that an empty result means a quorum of replicas said it will
// never execute (a later timestamp of client executed first).
func (c *Client) SubmitUnsigned(ctx context.Context, client [32]byte, timestamp uint64, op []byte) ([]byte, error) {
	if len(op) > pbft.MaxOpBytes {
		return nil, fmt.Errorf("pbft client: operation of %d bytes exceeds %d: %w", len(op), pbft.MaxOpBytes, pbft.ErrInvalid)
	}
	if _, own := c.byID[client]; own {
		return nil, fmt.Errorf("pbft client: unsigned request of its own identity: %w", pbft.ErrInvalid)
	}
	q := pbft.UnsignedRequest(client, timestamp, bytes.Clone(op))
	return c.submit(ctx, &job{ctx: ctx, req: q, done: make(chan jobResult, 1)})
}

func (c *Client) submit(ctx context.Context, j *job) ([]byte, error) {
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return nil, fmt.Errorf("pbft client: submit: %w", ctx.Err())
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
	select {
	case r := <-j.done:
		return r.value, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("pbft client: submit: %w", ctx.Err())
	}
}

// learnView raises c.view to v.
func (c *Client) learnView(v uint64) {
	for {
		cur := c.view.Load()
		if v <= cur || c.view.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Connected reports whether every identity has an established connection
// to every replica (benchmarks wait for it before they start the clock).
func (c *Client) Connected() bool {
	for _, l := range c.links {
		if !l.Connected() {
			return false
		}
	}
	return len(c.links) > 0
}

// Close stops every identity and closes the connections. Pending Submits
// return ErrClosed.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		for _, l := range c.links {
			l.Close()
		}
		c.ep.Close()
	})
	return nil
}

// deliver hands a message read from the link to replica from to the
// session of the identity it is for (replicas send clients only replies).
func (c *Client) deliver(from uint32, m pbft.Message) {
	r, ok := m.(*pbft.Reply)
	if !ok {
		return
	}
	// Replies to a request already decided (the third and fourth of four)
	// are dropped here rather than waking the identity for nothing.
	if s := c.byID[r.Client]; s != nil {
		if r.Timestamp == s.waiting.Load() {
			s.deliver(from, m)
		}
		return
	}
	c.unsignedMu.Lock()
	s := c.unsigned[unsignedKey{r.Client, r.Timestamp}]
	c.unsignedMu.Unlock()
	if s != nil {
		s.deliver(from, m)
	}
}

// await registers s as the session waiting for the replies to unsigned
// request q (the latest of two submissions of the same request gets them;
// the other waits for its retransmission timeout and then its context).
func (c *Client) await(q *pbft.Request, s *session) {
	c.unsignedMu.Lock()
	c.unsigned[unsignedKey{q.Client, q.Timestamp}] = s
	c.unsignedMu.Unlock()
}

// release undoes await.
func (c *Client) release(q *pbft.Request, s *session) {
	k := unsignedKey{q.Client, q.Timestamp}
	c.unsignedMu.Lock()
	if c.unsigned[k] == s {
		delete(c.unsigned, k)
	}
	c.unsignedMu.Unlock()
}

// deliver hands a reply read from the link to replica from to the
// session. The link authenticated the replica by its key, so the core
// takes the reply without verifying its signature again.
func (s *session) deliver(from uint32, m pbft.Message) {
	select {
	case s.replies <- reply{from: from, m: m}:
	case <-s.c.ctx.Done():
	}
}

// send encodes each message once, however many replicas it goes to (a
// request sent to all of them is one Outbound per replica).
func (s *session) send(out []pbft.Outbound) {
	var last pbft.Message
	var frame []byte
	for _, o := range out {
		if int(o.To.Replica) >= len(s.c.links) {
			continue
		}
		if o.Msg != last {
			last, frame = o.Msg, pbft.Encode(o.Msg)
		}
		l := s.c.links[o.To.Replica]
		conn := l.Connection() // before Send: the frame goes out on this connection or a later one
		if l.Send(frame) {
			if q, ok := o.Msg.(*pbft.Request); ok && q.Unsigned() {
				s.c.routes.record(q.Client, int(o.To.Replica), conn)
			}
		}
	}
}

// run drives the identity: it takes a job only when idle, steps replies
// and ticks the core.
func (s *session) run() {
	defer s.c.wg.Done()
	// The core's clock only matters while a request is outstanding, and
	// then only at its retransmission: the timer sleeps until then and
	// the clock catches up on waking, so an idle or waiting identity costs
	// no wake-ups.
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var (
		cur   *job
		began time.Time
		clock time.Time // the wall time the core's clock stands at
	)
	defer func() {
		if cur != nil {
			if cur.req != nil {
				s.c.release(cur.req, s)
			}
			cur.done <- jobResult{err: ErrClosed}
		}
	}()
	arm := func() {
		if k := s.core.TicksToRetransmit(); k > 0 {
			t.Reset(time.Until(clock.Add(time.Duration(k) * s.tick)))
		}
	}
	for {
		jobs := s.c.jobs
		var gaveUp <-chan struct{}
		if cur != nil {
			jobs = nil
			if cur.req != nil {
				// An unsigned request may never be answered (a replica
				// drops one the application does not vouch for), so its
				// identity stops driving it when its submitter stops
				// waiting; a signed one is driven to completion.
				gaveUp = cur.ctx.Done()
			}
		}
		select {
		case <-s.c.ctx.Done():
			return
		case <-gaveUp:
			s.c.release(cur.req, s)
			s.core.Abandon()
			s.waiting.Store(0)
			t.Stop()
			cur.done <- jobResult{err: fmt.Errorf("pbft client: submit: %w", cur.ctx.Err())}
			cur = nil
		case j := <-jobs:
			s.core.SetRetransmitTimeout(ticks(s.c.retransmitTimeout(j.req != nil), s.tick))
			s.core.LearnView(s.c.view.Load())
			var (
				out []pbft.Outbound
				err error
			)
			if j.req != nil {
				s.c.await(j.req, s) // before it is sent: replies may be quick
				if out, err = s.core.SubmitUnsigned(j.req, s.c.routes.known(j.req.Client, s.c.links, s.core.Primary())); err != nil {
					s.c.release(j.req, s)
				}
			} else {
				var q *pbft.Request
				if q, out, err = s.core.Submit(j.op); err == nil {
					s.waiting.Store(q.Timestamp)
				}
			}
			if err != nil {
				j.done <- jobResult{err: fmt.Errorf("pbft client: submit: %w", err)}
				continue
			}
			cur, began, clock = j, time.Now(), time.Now()
			arm()
			s.send(out)
		case m := <-s.replies:
			res, err := s.core.StepAuthenticated(m.from, m.m)
			if err != nil {
				s.log.Debug("pbft client: reply rejected", "err", err)
				continue
			}
			if res != nil && cur != nil {
				s.c.learnView(res.View)
				s.waiting.Store(0)
				if cur.req != nil {
					s.c.release(cur.req, s)
				}
				s.c.latency.observe(time.Since(began))
				cur.done <- jobResult{value: res.Value}
				cur = nil
				t.Stop()
			}
		case <-t.C:
			for n := time.Since(clock) / s.tick; n > 0; n-- {
				clock = clock.Add(s.tick)
				s.send(s.core.Tick())
			}
			arm()
		}
	}
}
