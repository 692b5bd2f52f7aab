package transport

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/internal/quicnet"
)

// Peer is the authenticated sender of an inbound message: a replica of the
// shard, or a client known by its key.
type Peer struct {
	// Replica is the sender's replica id, or -1 for a client.
	Replica int
	// Client is the sender's key as a pbft.ClientID (set for replicas too).
	Client pbft.ClientID
}

// IsReplica reports whether the peer is a replica of the shard.
func (p Peer) IsReplica() bool { return p.Replica >= 0 }

// ServerConfig configures a replica's Server.
type ServerConfig struct {
	// Key is the replica's key; Replicas are the shard's keys; Domain is
	// the shard's, in which clients sign their stream attachments.
	Key      ed25519.PrivateKey
	Replicas []ed25519.PublicKey
	Domain   pbft.Domain
	// OnMessage receives every accepted inbound message, from the
	// connection's reader goroutine: replicas may send any message but a
	// reply, clients only requests of their own key or, on a client
	// stream, of the identities attached to it.
	OnMessage func(from Peer, m pbft.Message)
	// Status returns the encoded status answered on a status stream.
	Status func() []byte
	// MaxFrame bounds frames from replicas, MaxClientFrame frames from
	// clients (DefaultMaxFrame and DefaultMaxClientFrame if 0).
	MaxFrame       int
	MaxClientFrame int
	// Queue bounds the replies held for one client (DefaultClientQueue
	// if 0).
	Queue  int
	Logger *slog.Logger
}

// ServerMetrics counts what a Server took from clients and what it dropped.
type ServerMetrics struct {
	ClientRequests uint64 // requests taken from client streams
	BadFrames      uint64 // frames that did not decode or exceeded their limit
	Rejected       uint64 // decoded messages a peer may not send (a forged client, a reply)
	DroppedReplies uint64 // replies to a client that is not connected or too slow
}

// DefaultClientQueue is the default number of replies a Server holds for
// one client. A client identity has one request outstanding at a time, so
// more are only retransmitted replies; the queue is allocated per
// connected client, so it is kept small.
const DefaultClientQueue = 64

// clientQueueIdentities caps the identities a stream's reply queue grows
// with: a stream of n identities holds n times DefaultClientQueue replies,
// up to this many times.
const clientQueueIdentities = 64

// clientWriteBuffer is the size of the buffer replies to one client are
// written through (replies are small), sharedWriteBuffer that of a stream
// of several identities.
const (
	clientWriteBuffer = 4 << 10
	sharedWriteBuffer = 32 << 10
)

// Server accepts the connections of a replica's peers and clients.
type Server struct {
	cfg    ServerConfig
	ln     *quic.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger

	mu      sync.Mutex
	conns   map[*quic.Conn]struct{}
	clients map[pbft.ClientID]*clientStream
	// routes are where replies to unsigned requests go: the client stream
	// that last sent one of that client id (see routeUnsigned).
	routes map[pbft.ClientID]*clientStream

	clientRequests atomic.Uint64
	badFrames      atomic.Uint64
	rejected       atomic.Uint64
	droppedReplies atomic.Uint64
}

// clientStream is the message stream of one connected client: replies go
// out on it through a writer goroutine.
type clientStream struct {
	queue  chan []byte
	done   chan struct{}
	routed int // routes ever given to it (under Server.mu)
}

// Serve starts accepting connections on e.
func (e *Endpoint) Serve(cfg ServerConfig) (*Server, error) {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxClientFrame <= 0 {
		cfg.MaxClientFrame = DefaultMaxClientFrame
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultClientQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnMessage == nil {
		return nil, errors.New("pbft server: no message handler")
	}
	self := cfg.Key.Public().(ed25519.PublicKey)
	tc, err := quicnet.ServerTLS(cfg.Key, ALPN, func(pub ed25519.PublicKey) error {
		// Replicas by their genesis keys and any client by its own key
		// are admitted; only our own key is not (we never dial ourselves).
		if pub.Equal(self) {
			return errors.New("peer presented this replica's own key")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pbft server: %w", err)
	}
	ln, err := e.tr.Listen(tc, quicConfig())
	if err != nil {
		return nil, fmt.Errorf("pbft server: listen on %s: %w", e.Addr(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, ln: ln, ctx: ctx, cancel: cancel, log: cfg.Logger,
		conns: map[*quic.Conn]struct{}{}, clients: map[pbft.ClientID]*clientStream{},
		routes: map[pbft.ClientID]*clientStream{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Metrics returns the server's counters.
func (s *Server) Metrics() ServerMetrics {
	return ServerMetrics{ClientRequests: s.clientRequests.Load(), BadFrames: s.badFrames.Load(), Rejected: s.rejected.Load(), DroppedReplies: s.droppedReplies.Load()}
}

// SendClient queues an encoded reply for a connected client; it reports
// false when the client is not connected or its queue is full.
func (s *Server) SendClient(id pbft.ClientID, frame []byte) bool {
	s.mu.Lock()
	cs := s.clients[id]
	if cs == nil {
		cs = s.routes[id]
	}
	s.mu.Unlock()
	if cs != nil {
		select {
		case cs.queue <- frame:
			return true
		default:
		}
	}
	s.droppedReplies.Add(1)
	return false
}

// SendReplyGroup queues replies that one signature covers (see
// pbft.EncodeReplyGroup) to their clients, one reply group frame per
// client connection, whatever number of their identities it carries. It
// returns how many replies were dropped: their client is not connected,
// its queue is full, or the replies are not one signature's.
func (s *Server) SendReplyGroup(replies []*pbft.Reply) int {
	type group struct {
		cs      *clientStream
		replies []*pbft.Reply
	}
	var groups []group
	at := map[*clientStream]int{}
	dropped := 0
	s.mu.Lock()
	for _, r := range replies {
		cs := s.clients[r.Client]
		if cs == nil {
			cs = s.routes[r.Client]
		}
		if cs == nil {
			dropped++
			continue
		}
		i, ok := at[cs]
		if !ok {
			i = len(groups)
			at[cs] = i
			groups = append(groups, group{cs: cs})
		}
		groups[i].replies = append(groups[i].replies, r)
	}
	s.mu.Unlock()
	for _, g := range groups {
		frame, err := pbft.EncodeReplyGroup(g.replies)
		if err == nil {
			select {
			case g.cs.queue <- frame:
				continue
			default:
			}
		}
		dropped += len(g.replies)
	}
	s.droppedReplies.Add(uint64(dropped))
	return dropped
}

// Close stops accepting, closes every connection and waits for the
// server's goroutines.
func (s *Server) Close() {
	s.cancel()
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.CloseWithError(0, "replica closing")
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept(s.ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			conn.CloseWithError(0, "replica closing")
			return
		}
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveConn(conn)
	}
}

// identify maps a connection's key to a Peer.
func (s *Server) identify(conn *quic.Conn) (Peer, error) {
	pub, err := quicnet.ConnKey(conn.ConnectionState().TLS)
	if err != nil {
		return Peer{}, err
	}
	p := Peer{Replica: -1}
	copy(p.Client[:], pub)
	for i, k := range s.cfg.Replicas {
		if k.Equal(pub) {
			p.Replica = i
			break
		}
	}
	return p, nil
}

func (s *Server) serveConn(conn *quic.Conn) {
	defer s.wg.Done()
	defer func() {
		conn.CloseWithError(0, "")
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	peer, err := s.identify(conn)
	if err != nil {
		s.log.Warn("pbft server: unidentified connection", "err", err)
		return
	}
	for {
		st, err := conn.AcceptStream(s.ctx)
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serveStream(peer, st)
	}
}

func (s *Server) serveStream(peer Peer, st *quic.Stream) {
	defer s.wg.Done()
	defer st.CancelRead(0)
	defer st.Close()
	r := bufio.NewReader(st)
	_ = st.SetReadDeadline(time.Now().Add(headerTimeout))
	kind, err := r.ReadByte()
	if err != nil {
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	switch kind {
	case StreamStatus:
		s.serveStatus(st)
	case StreamMessages:
		s.serveMessages(peer, st, r)
	case StreamClients:
		s.serveClients(peer, st, r)
	default:
		s.badFrames.Add(1)
	}
}

func (s *Server) serveStatus(st *quic.Stream) {
	var b []byte
	if s.cfg.Status != nil {
		b = s.cfg.Status()
	}
	w := bufio.NewWriter(st)
	_ = st.SetWriteDeadline(time.Now().Add(headerTimeout))
	if err := writeFrame(w, b); err == nil {
		_ = w.Flush()
	}
}

func (s *Server) serveMessages(peer Peer, st *quic.Stream, r *bufio.Reader) {
	max := s.cfg.MaxFrame
	own := func(id pbft.ClientID) bool { return id == peer.Client }
	var cs *clientStream
	if !peer.IsReplica() {
		max = s.cfg.MaxClientFrame
		ids := []pbft.ClientID{peer.Client}
		cs = s.attachClients(ids, st, s.cfg.Queue, clientWriteBuffer)
		defer s.detachClients(ids, cs)
	}
	s.readStream(peer, cs, r, max, own)
}

// serveClients serves a client stream of several identities: they are
// attached by its first frame, and only their requests are taken.
func (s *Server) serveClients(peer Peer, st *quic.Stream, r *bufio.Reader) {
	if peer.IsReplica() {
		s.badFrames.Add(1)
		return
	}
	_ = st.SetReadDeadline(time.Now().Add(headerTimeout))
	b, err := readFrame(r, maxAttachFrame)
	if err != nil {
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	self := s.cfg.Key.Public().(ed25519.PublicKey)
	ids, err := decodeAttach(s.cfg.Domain, b, self, ed25519.PublicKey(peer.Client[:]))
	if err != nil {
		s.badFrames.Add(1)
		s.log.Debug("pbft server: client stream refused", "err", err)
		return
	}
	set := make(map[pbft.ClientID]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	cs := s.attachClients(ids, st, s.cfg.Queue*min(len(ids), clientQueueIdentities), sharedWriteBuffer)
	defer s.detachClients(ids, cs)
	s.readStream(peer, cs, r, s.cfg.MaxClientFrame, func(id pbft.ClientID) bool {
		_, ok := set[id]
		return ok
	})
}

// readStream hands every admissible message of the stream to OnMessage;
// own says whose requests a client's stream may carry, cs is a client
// stream's reply queue (nil for a replica).
func (s *Server) readStream(peer Peer, cs *clientStream, r *bufio.Reader, max int, own func(pbft.ClientID) bool) {
	deliver := func(m pbft.Message) {
		if !s.admissible(peer, m, own) {
			s.rejected.Add(1)
			return
		}
		if q, ok := m.(*pbft.Request); ok && cs != nil {
			s.clientRequests.Add(1)
			if q.Unsigned() && !own(q.Client) {
				s.routeUnsigned(q.Client, cs)
			}
		}
		s.cfg.OnMessage(peer, m)
	}
	err := readMessages(r, max, &s.badFrames, s.log, deliver)
	if !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
		s.log.Debug("pbft server: stream ended", "replica", peer.Replica, "err", err)
	}
}

// admissible reports whether peer may send m: a replica anything but a
// reply (signatures are the core's to check), a client only requests of
// the identities its stream owns, and unsigned requests of any client id
// (the application authenticates them, see pbft.UnsignedRequest).
func (s *Server) admissible(peer Peer, m pbft.Message, own func(pbft.ClientID) bool) bool {
	switch m := m.(type) {
	case *pbft.Reply:
		return false
	case *pbft.Request:
		return peer.IsReplica() || own(m.Client) || m.Unsigned()
	default:
		return peer.IsReplica()
	}
}

// attachClients makes st the stream replies to the clients ids go out on,
// replacing earlier ones, through a queue of queue frames and a write
// buffer of wbuf bytes.
func (s *Server) attachClients(ids []pbft.ClientID, st *quic.Stream, queue, wbuf int) *clientStream {
	cs := &clientStream{queue: make(chan []byte, queue), done: make(chan struct{})}
	s.mu.Lock()
	for _, id := range ids {
		s.clients[id] = cs
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		w := bufio.NewWriterSize(st, wbuf)
		for {
			select {
			case <-cs.done:
				return
			case <-s.ctx.Done():
				return
			case f := <-cs.queue:
				if err := writeQueued(w, f, cs.queue); err != nil {
					st.CancelRead(0)
					return
				}
			}
		}
	}()
	return cs
}

func (s *Server) detachClients(ids []pbft.ClientID, cs *clientStream) {
	close(cs.done)
	s.mu.Lock()
	for _, id := range ids {
		if s.clients[id] == cs {
			delete(s.clients, id)
		}
	}
	if cs.routed > 0 {
		for id, r := range s.routes {
			if r == cs {
				delete(s.routes, id)
			}
		}
	}
	s.mu.Unlock()
}

// MaxRoutes bounds the client ids of unsigned requests a Server remembers
// a reply route for; further ids are not routed until routes free up (their
// clients fall back to signed requests of attached identities).
const MaxRoutes = 1 << 16

// routeUnsigned makes cs, the client stream an unsigned request of id came
// in on, the one replies to id go out on. An unsigned request proves
// nothing about the connection that carries it (anyone who saw it can
// resend it), so the latest sender wins and a client re-claims its route
// with every retransmission (which goes to every replica). Someone who
// keeps resending a client's request can delay its replies from this
// replica, not forge or learn anything: replies are signed and carry no
// secret, and the request executes once either way.
func (s *Server) routeUnsigned(id pbft.ClientID, cs *clientStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.routes[id]; ok {
		if old == cs {
			return
		}
	} else if len(s.routes) >= MaxRoutes {
		return
	}
	s.routes[id] = cs
	cs.routed++
}
