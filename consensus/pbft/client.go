package pbft

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Domain   Domain
	Key      ed25519.PrivateKey
	Replicas []ed25519.PublicKey
	// RetransmitTimeout is how many ticks the client waits for f+1 matching
	// replies before it broadcasts its request to every replica; it doubles
	// on each retransmission up to 16 times its initial value.
	RetransmitTimeout int
	// Verify checks signatures; nil means ed25519.Verify.
	Verify VerifyFunc
}

// DefaultRetransmitTimeout is the default ClientConfig.RetransmitTimeout.
const DefaultRetransmitTimeout = 20

// ErrBusy is returned by Submit while a request is outstanding.
var ErrBusy = errors.New("pbft: client has an outstanding request")

// Result is a request's outcome accepted from f+1 matching committed
// replies or 2f+1 matching tentative ones (see Reply).
type Result struct {
	Timestamp uint64
	Value     []byte
	// View is the highest view among the matching replies.
	View uint64
}

// Client is the deterministic client side of the protocol: it signs
// requests with increasing timestamps, sends them to the primary it
// believes in, broadcasts them on timeout, and accepts a result once f+1
// replicas sent matching, validly signed replies. One request is
// outstanding at a time. It is not safe for concurrent use.
type Client struct {
	cfg     ClientConfig
	id      ClientID
	f       int
	next    uint64
	view    uint64
	cur     *Request
	replies []*Reply
	now     uint64
	sentAt  uint64
	wait    int
}

// NewClient returns a client whose first request has timestamp first
// (timestamps must keep increasing across restarts, e.g. start from the
// wall clock in nanoseconds).
func NewClient(cfg ClientConfig, first uint64) (*Client, error) {
	n := len(cfg.Replicas)
	if n == 0 || (n-1)%3 != 0 || n > MaxReplicas {
		return nil, fmt.Errorf("%w: %d replicas is not 3f+1", ErrConfig, n)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: bad client key", ErrConfig)
	}
	if cfg.RetransmitTimeout <= 0 {
		cfg.RetransmitTimeout = DefaultRetransmitTimeout
	}
	if cfg.Verify == nil {
		cfg.Verify = ed25519.Verify
	}
	c := &Client{cfg: cfg, f: (n - 1) / 3, next: max(first, 1), replies: make([]*Reply, n)}
	copy(c.id[:], cfg.Key.Public().(ed25519.PublicKey))
	return c, nil
}

// SetRetransmitTimeout sets how many ticks the client waits before it
// broadcasts the requests it submits from now on (at least 1); later
// retransmissions still double, up to 16 times this value.
func (c *Client) SetRetransmitTimeout(ticks int) { c.cfg.RetransmitTimeout = max(1, ticks) }

// Primary returns the replica the client believes is the primary (of the
// highest view its accepted results came from).
func (c *Client) Primary() uint32 { return uint32(c.view % uint64(len(c.cfg.Replicas))) }

// LearnView raises the view the client believes in (and so its primary)
// to v, the view of a result that another client of the same runtime
// accepted: that result's f+1 matching replies vouch for the view as the
// client's own would. A lower v changes nothing.
func (c *Client) LearnView(v uint64) { c.view = max(c.view, v) }

// ID returns the client's id (its public key).
func (c *Client) ID() ClientID { return c.id }

// Outstanding returns the request awaiting its result, or nil.
func (c *Client) Outstanding() *Request { return c.cur }

// Submit signs op as the next request and returns it with the message to
// send to the believed primary.
func (c *Client) Submit(op []byte) (*Request, []Outbound, error) {
	if c.cur != nil {
		return nil, nil, ErrBusy
	}
	if len(op) > MaxOpBytes {
		return nil, nil, fmt.Errorf("operation of %d bytes exceeds %d: %w", len(op), MaxOpBytes, ErrInvalid)
	}
	q := &Request{Client: c.id, Timestamp: c.next, Op: bytes.Clone(op)}
	c.next++
	Sign(c.cfg.Domain, c.cfg.Key, q)
	c.cur, c.sentAt, c.wait = q, c.now, c.cfg.RetransmitTimeout
	clear(c.replies)
	return q, []Outbound{{To: Destination{Replica: c.Primary()}, Msg: q}}, nil
}

// SubmitUnsigned makes q, an unsigned request (see UnsignedRequest) of any
// client id, the outstanding one and returns it addressed to the believed
// primary and to every replica i for which known[i] is false (every one
// when known is nil). A replica routes the replies to an unsigned request
// to the connection it last received one of that client id on, so a
// runtime sends it to the replicas that may not know the route yet; the
// others hear it in the primary's pre-prepare, as backups hear a signed
// request, and on timeout (Tick) it goes to every replica. The replies
// are matched as for Submit; a Result with an empty Value means f+1
// replicas said q will never execute (a later request of its client
// executed first). The client's own timestamps are not used.
func (c *Client) SubmitUnsigned(q *Request, known []bool) ([]Outbound, error) {
	if c.cur != nil {
		return nil, ErrBusy
	}
	if !q.Unsigned() {
		return nil, fmt.Errorf("request of client %x is signed: %w", q.Client[:4], ErrInvalid)
	}
	if len(q.Op) > MaxOpBytes {
		return nil, fmt.Errorf("operation of %d bytes exceeds %d: %w", len(q.Op), MaxOpBytes, ErrInvalid)
	}
	c.cur, c.sentAt, c.wait = q, c.now, c.cfg.RetransmitTimeout
	clear(c.replies)
	primary := c.Primary()
	out := make([]Outbound, 0, len(c.cfg.Replicas))
	for i := range c.cfg.Replicas {
		if uint32(i) == primary || i >= len(known) || !known[i] {
			out = append(out, Outbound{To: Destination{Replica: uint32(i)}, Msg: q})
		}
	}
	return out, nil
}

// Abandon forgets the outstanding request (a runtime gives up an unsigned
// request whose submitter stopped waiting; it may still execute).
func (c *Client) Abandon() { c.cur = nil }

// Step takes a reply. It returns the result once f+1 replicas sent
// matching replies for the outstanding request, and an error for a reply
// that does not verify.
func (c *Client) Step(m Message) (*Result, error) { return c.step(m, -1) }

// StepAuthenticated is Step for a message that arrived on a channel already
// authenticated as replica from (a mutually authenticated connection pinned
// to that replica's key, as in Castro-Liskov's MAC variant): a reply that
// claims to come from that replica is accepted without checking its
// signature again; a reply claiming any other sender is verified as by Step.
func (c *Client) StepAuthenticated(from uint32, m Message) (*Result, error) {
	return c.step(m, int64(from))
}

func (c *Client) step(m Message, from int64) (*Result, error) {
	r, ok := m.(*Reply)
	if !ok {
		return nil, fmt.Errorf("client got a %v: %w", m.Kind(), ErrInvalid)
	}
	if int(r.Replica) >= len(c.cfg.Replicas) {
		return nil, fmt.Errorf("reply from replica %d: %w", r.Replica, ErrNotMember)
	}
	if c.cur == nil || r.Client != c.cur.Client || r.Timestamp != c.cur.Timestamp {
		return nil, nil // stale or not ours
	}
	if int64(r.Replica) != from && !verify(c.cfg.Domain, c.cfg.Verify, c.cfg.Replicas[r.Replica], r) {
		return nil, fmt.Errorf("reply from replica %d: %w", r.Replica, ErrBadSignature)
	}
	if old := c.replies[r.Replica]; old == nil || old.Tentative || !r.Tentative {
		c.replies[r.Replica] = r // a committed reply is not taken back by a tentative one
	}
	view, ok := c.accepted(r.Result)
	if !ok {
		return nil, nil
	}
	c.view = max(c.view, view)
	res := &Result{Timestamp: r.Timestamp, Value: r.Result, View: view}
	c.cur = nil
	return res, nil
}

// accepted says whether the replies hold enough matching result to accept
// it: f+1 committed replies, or 2f+1 that are committed or tentative in one
// view (see Reply). It returns the highest view among them. It runs for
// every reply, so it counts in place (there are at most MaxReplicas).
func (c *Client) accepted(result []byte) (uint64, bool) {
	committed, view := 0, uint64(0)
	for _, o := range c.replies {
		if o != nil && bytes.Equal(o.Result, result) {
			view = max(view, o.View)
			if !o.Tentative {
				committed++
			}
		}
	}
	if committed >= c.f+1 {
		return view, true
	}
	for _, o := range c.replies {
		if o == nil || !o.Tentative || !bytes.Equal(o.Result, result) {
			continue
		}
		k := committed
		for _, p := range c.replies {
			if p != nil && p.Tentative && p.View == o.View && bytes.Equal(p.Result, result) {
				k++
			}
		}
		if k >= 2*c.f+1 {
			return view, true
		}
	}
	return 0, false
}

// TicksToRetransmit returns how many more Ticks it takes until Tick
// retransmits the outstanding request (at least 1), or 0 when nothing is
// outstanding. A runtime may sleep that long instead of ticking.
func (c *Client) TicksToRetransmit() int {
	if c.cur == nil {
		return 0
	}
	return max(1, c.wait-int(c.now-c.sentAt))
}

// Tick advances the client's clock; on timeout it returns the outstanding
// request broadcast to every replica.
func (c *Client) Tick() []Outbound {
	c.now++
	if c.cur == nil || c.now-c.sentAt < uint64(c.wait) {
		return nil
	}
	c.sentAt = c.now
	c.wait = min(2*c.wait, 16*c.cfg.RetransmitTimeout)
	out := make([]Outbound, 0, len(c.cfg.Replicas))
	for i := range c.cfg.Replicas {
		out = append(out, Outbound{To: Destination{Replica: uint32(i)}, Msg: c.cur})
	}
	return out
}
