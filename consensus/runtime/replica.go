package runtime

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/storage"
	"github.com/x402/x402/consensus/runtime/transport"
)

// inboundQueue bounds the messages waiting for the event loop; a full
// queue holds back the transport's readers (QUIC flow control does the
// rest).
const inboundQueue = 8192

// maxEventBatch bounds the inbound messages stepped before one Ready, so
// ticks and sends are not starved under load.
const maxEventBatch = 1024

// ErrClosed is returned by operations on a closed Replica or Client.
var ErrClosed = errors.New("pbft runtime: closed")

// Replica runs one replica of a shard: its protocol core, transport,
// storage and timers. Its methods are safe for concurrent use.
type Replica struct {
	cfg    ReplicaConfig
	node   *pbft.Node
	store  *storage.Store
	ep     *transport.Endpoint
	srv    *transport.Server
	links  []*transport.Link // by replica id; nil for ourselves
	verify *verifier
	log    *slog.Logger

	inbound chan pbft.Message
	// authq feeds unsigned requests to authenticateRequests, which closes
	// authDone when it returns; both nil unless the application is a
	// pbft.BatchAuthenticator.
	authq    chan *pbft.Request
	authDone chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // set before done is closed

	timeline  *timeline // loop only; nil without OnBatchTimes
	status    atomic.Pointer[Status]
	saves     uint64        // loop only
	saveTime  time.Duration // loop only
	quiet     bool          // loop only: ticks come quietTicks at a time (see pbft.Node.Quiet)
	closeOnce sync.Once
	closeErr  error

	replyScratch []*pbft.Reply // loop only: gathers one signature's replies to send
}

// Start opens the replica's state file, restarts its core from it, starts
// its transport and runs its event loop.
func Start(cfg ReplicaConfig) (*Replica, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		if cfg.PacketConn != nil {
			_ = cfg.PacketConn.Close()
		}
		return nil, err
	}
	r := &Replica{cfg: c, log: c.Logger.With("replica", c.Node.ID), inbound: make(chan pbft.Message, inboundQueue),
		done: make(chan struct{})}
	if c.OnBatchTimes != nil {
		r.timeline = newTimeline(c.Node.ID)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.open(); err != nil {
		r.cancel()
		r.teardown()
		return nil, err
	}
	r.publishStatus()
	if r.authq != nil {
		go r.authenticateRequests()
	}
	go r.run()
	return r, nil
}

func (r *Replica) open() error {
	c := &r.cfg
	batchAuth, _ := c.Node.App.(pbft.BatchAuthenticator)
	if c.Node.Authenticate != nil {
		batchAuth = nil // it answers for the application's AuthenticateRequest only
	}
	c.Node.Authenticate = pbft.AuthenticatorOf(&c.Node)
	if c.Node.Verify == nil {
		r.verify = newVerifier(c.Node.Domain, c.Node.Replicas)
		r.verify.auth = c.Node.Authenticate
		if batchAuth != nil {
			r.verify.authBatch = batchAuth.AuthenticateRequests
			r.authq, r.authDone = make(chan *pbft.Request, authQueue), make(chan struct{})
		}
		c.Node.Verify = r.verify.Verify
	}
	pc := c.PacketConn
	c.PacketConn = nil
	var err error
	r.store, err = storage.Open(c.StatePath, storage.Identity{Domain: c.Node.Domain, Replica: c.Node.ID,
		Key: c.Node.Replicas[c.Node.ID]})
	if err != nil {
		if pc != nil {
			_ = pc.Close()
		}
		return fmt.Errorf("replica %d: %w", c.Node.ID, err)
	}
	p, err := r.store.Load()
	if err != nil {
		if pc != nil {
			_ = pc.Close()
		}
		return fmt.Errorf("replica %d: %w", c.Node.ID, err)
	}
	r.node, err = pbft.Restart(c.Node, p)
	if err != nil {
		if pc != nil {
			_ = pc.Close()
		}
		return fmt.Errorf("replica %d: restart: %w", c.Node.ID, err)
	}
	if pc != nil {
		r.ep = transport.NewEndpoint(pc, c.Node.Key, c.Impairment)
	} else if r.ep, err = transport.ListenEndpoint(c.Listen, c.Node.Key, c.Impairment); err != nil {
		return fmt.Errorf("replica %d: %w", c.Node.ID, err)
	}
	r.srv, err = r.ep.Serve(transport.ServerConfig{Key: c.Node.Key, Replicas: c.Node.Replicas, Domain: c.Node.Domain,
		OnMessage: r.deliver, Status: r.encodedStatus, Logger: r.log})
	if err != nil {
		return fmt.Errorf("replica %d: %w", c.Node.ID, err)
	}
	r.links = make([]*transport.Link, len(c.Node.Replicas))
	for i, pub := range c.Node.Replicas {
		if uint32(i) == c.Node.ID {
			continue
		}
		r.links[i], err = r.ep.NewLink(transport.LinkConfig{Addr: c.Peers[i], Peer: pub, Key: c.Node.Key, Logger: r.log})
		if err != nil {
			return fmt.Errorf("replica %d: %w", c.Node.ID, err)
		}
	}
	return nil
}

// deliver hands an inbound message to the event loop; it runs on the
// transport's reader goroutines, which also verify the signature ahead.
// Unsigned requests go through authenticateRequests when it runs.
func (r *Replica) deliver(_ transport.Peer, m pbft.Message) {
	if q, ok := m.(*pbft.Request); ok && q.Unsigned() && r.authq != nil {
		select {
		case r.authq <- q:
		case <-r.ctx.Done():
		}
		return
	}
	if r.verify != nil {
		r.verify.precheck(m)
	}
	select {
	case r.inbound <- m:
	case <-r.ctx.Done():
	}
}

// Addr returns the address the replica listens on.
func (r *Replica) Addr() string { return r.ep.Addr().String() }

// Done is closed when the event loop stopped: after Close, or after a
// storage failure (see Err).
func (r *Replica) Done() <-chan struct{} { return r.done }

// Err returns why the event loop stopped, once Done is closed.
func (r *Replica) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Close stops the event loop, the transport and the storage, and waits for
// every goroutine of the replica.
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		if r.authDone != nil {
			<-r.authDone
		}
		r.closeErr = r.teardown()
	})
	return r.closeErr
}

func (r *Replica) teardown() error {
	if r.srv != nil {
		r.srv.Close()
	}
	for _, l := range r.links {
		if l != nil {
			l.Close()
		}
	}
	if r.ep != nil {
		r.ep.Close()
	}
	if r.store != nil {
		return r.store.Close()
	}
	return nil
}

// run is the event loop: it alone touches the node, and the store only
// through the one save it may have in flight. While a Ready is being
// persisted the loop keeps stepping messages and ticks (their output
// waits for the next Ready), so the core's work overlaps the fsync; a
// Ready's messages are sent only once it is durable, as before.
func (r *Replica) run() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.TickInterval)
	defer t.Stop()
	var (
		rd     pbft.Ready
		saved  chan error // non-nil while rd is being persisted
		start  time.Time
		failed error
	)
	defer func() {
		if saved != nil {
			<-saved // never leave a save running into Close
		}
	}()
	for {
		select {
		case <-r.ctx.Done():
			return
		case m := <-r.inbound:
			r.step(m)
			for i := 1; i < maxEventBatch; i++ {
				select {
				case m = <-r.inbound:
					r.step(m)
					continue
				default:
				}
				break
			}
			if r.quiet { // whatever came may need the next tick on time
				r.setQuiet(t, false)
			}
		case <-t.C:
			if !r.quiet {
				r.node.Tick()
			} else {
				for range quietTicks {
					r.node.Tick()
				}
			}
			if q := r.node.Quiet(); q != r.quiet {
				r.setQuiet(t, q)
			}
		case err := <-saved:
			saved = nil
			if err != nil {
				failed = fmt.Errorf("replica %d: persist before sending: %w", r.cfg.Node.ID, err)
				break
			}
			r.saves++
			r.saveTime += time.Since(start)
			r.finish(rd)
		}
		if failed != nil {
			r.err = failed
			r.log.Error("pbft replica stopped", "err", failed)
			r.cancel() // readers stop queueing for a loop that is gone
			return
		}
		if saved == nil && r.node.HasReady() {
			rd = r.node.Ready()
			if rd.Persist.Empty() {
				r.finish(rd)
			} else {
				saved, start = make(chan error, 1), time.Now()
				go func(p *pbft.Persist, done chan<- error) { done <- r.store.Save(p) }(&rd.Persist, saved)
			}
		}
		// Batches whose prepared certificates are durable run ahead of
		// their commit while the next Ready is being persisted; their
		// tentative replies depend on nothing else, so they go at once.
		r.send(r.node.Ahead())
	}
}

// quietTicks is how many ticks a quiet replica takes at once: its event
// loop then wakes for them a tenth as often, while every timeout keeps its
// length within one burst.
const quietTicks = 10

// setQuiet switches the loop's ticker t to quiet ticks or back, and
// publishes the change.
func (r *Replica) setQuiet(t *time.Ticker, quiet bool) {
	r.quiet = quiet
	if quiet {
		t.Reset(quietTicks * r.cfg.TickInterval)
	} else {
		t.Reset(r.cfg.TickInterval)
	}
	r.publishStatus()
}

func (r *Replica) step(m pbft.Message) {
	if err := r.node.Step(m); err != nil {
		r.log.Debug("pbft replica: message rejected", "kind", m.Kind(), "err", err)
	}
}

// finish completes a durable (or empty) Ready: it sends its messages,
// reports its executed batches and advances the node.
func (r *Replica) finish(rd pbft.Ready) {
	r.send(rd.Messages)
	if r.cfg.OnExecute != nil {
		for _, b := range rd.Executed {
			r.cfg.OnExecute(b)
		}
	}
	if r.timeline != nil {
		now := time.Now()
		for _, b := range rd.Executed {
			r.cfg.OnBatchTimes(r.timeline.executed(b.Seq, now))
		}
	}
	r.node.Advance()
	r.publishStatus()
}

func (r *Replica) send(msgs []pbft.Outbound) {
	if r.timeline != nil && len(msgs) > 0 {
		now := time.Now()
		for _, o := range msgs {
			r.timeline.sent(o.Msg, now)
		}
	}
	for i := 0; i < len(msgs); i++ {
		o := msgs[i]
		if rp, ok := o.Msg.(*pbft.Reply); ok && o.To.ToClient && o.To.Client == rp.Client {
			i = r.sendReplies(msgs, i) - 1
			continue
		}
		frame := pbft.Encode(o.Msg)
		switch {
		case o.To.ToClient:
			r.srv.SendClient(o.To.Client, frame)
		case o.To.Broadcast:
			for _, l := range r.links {
				if l != nil {
					l.Send(frame)
				}
			}
		case int(o.To.Replica) < len(r.links) && r.links[o.To.Replica] != nil:
			r.links[o.To.Replica].Send(frame)
		}
	}
}

// sendReplies sends the replies from msgs[i] on that one signature covers
// (the core signs a batch's replies together, see pbft.Reply) as reply
// groups, one frame per client connection, and returns the index after
// them.
func (r *Replica) sendReplies(msgs []pbft.Outbound, i int) int {
	group := r.replyScratch[:0]
	for ; i < len(msgs); i++ {
		o := msgs[i]
		rp, ok := o.Msg.(*pbft.Reply)
		if !ok || !o.To.ToClient || o.To.Client != rp.Client || (len(group) > 0 && !pbft.Groupable(group[len(group)-1], rp)) ||
			len(group) == pbft.MaxReplyGroup {
			break
		}
		group = append(group, rp)
	}
	r.srv.SendReplyGroup(group)
	clear(group)
	r.replyScratch = group[:0]
	return i
}

// PublicKey returns the replica's key.
func (r *Replica) PublicKey() ed25519.PublicKey { return r.cfg.Node.Replicas[r.cfg.Node.ID] }
