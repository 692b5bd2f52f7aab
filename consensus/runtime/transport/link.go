package transport

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/internal/quicnet"
)

// Reconnection backoff of a Link.
const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = time.Second
)

// DefaultQueue is the default number of frames a Link holds while its
// peer is slow or unreachable.
const DefaultQueue = 8192

// keptFrameBuffer bounds the buffer a stream's reader keeps for the next
// frame: a rare big frame (a state transfer) is not held for the stream's
// life.
const keptFrameBuffer = 64 << 10

// DefaultWriteBuffer is the default size of a Link's write buffer.
const DefaultWriteBuffer = 64 << 10

// LinkConfig configures an outgoing Link.
type LinkConfig struct {
	// Addr is the peer's address and Peer its key.
	Addr string
	Peer ed25519.PublicKey
	// Key is this side's identity.
	Key ed25519.PrivateKey
	// OnMessage, when set, receives the messages the peer writes back on the
	// link's stream (a replica's replies to a client). It is called from the
	// link's reader goroutine.
	OnMessage func(pbft.Message)
	// MaxFrame bounds frames read back (DefaultMaxFrame if 0).
	MaxFrame int
	// Queue bounds the frames held for sending (DefaultQueue if 0).
	Queue int
	// WriteBuffer is the size of the buffer frames are written through
	// (DefaultWriteBuffer if 0); a client's small requests need little.
	WriteBuffer int
	// Attach, when set, makes the link a client stream (StreamClients)
	// carrying the requests of these identities and their replies, instead
	// of a stream of Key's own messages; they sign the attachment in Domain.
	Attach []ed25519.PrivateKey
	Domain pbft.Domain
	Logger *slog.Logger
}

// Link is one outgoing connection to one peer with one long-lived message
// stream. It dials in the background with backoff, reconnects when the
// connection fails, and drops what it cannot hold: PBFT retransmits.
type Link struct {
	ep     *Endpoint
	cfg    LinkConfig
	header []byte // what starts every stream the link opens
	queue  chan []byte
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger

	connected atomic.Bool
	conns     atomic.Uint64 // connections established so far
	dropped   atomic.Uint64
	badFrames atomic.Uint64
}

// NewLink starts a link to cfg.Peer at cfg.Addr from e.
func (e *Endpoint) NewLink(cfg LinkConfig) (*Link, error) {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.WriteBuffer <= 0 {
		cfg.WriteBuffer = DefaultWriteBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tc, err := quicnet.ClientTLS(cfg.Key, ALPN, cfg.Peer)
	if err != nil {
		return nil, fmt.Errorf("link to %s: %w", cfg.Addr, err)
	}
	header := []byte{StreamMessages}
	if len(cfg.Attach) > 0 {
		attach, err := encodeAttach(cfg.Domain, cfg.Attach, cfg.Peer, cfg.Key.Public().(ed25519.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("link to %s: %w", cfg.Addr, err)
		}
		header = binary.BigEndian.AppendUint32([]byte{StreamClients}, uint32(len(attach)))
		header = append(header, attach...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{ep: e, cfg: cfg, header: header, queue: make(chan []byte, cfg.Queue), ctx: ctx, cancel: cancel,
		log: cfg.Logger.With("peer", cfg.Addr)}
	l.wg.Add(1)
	go l.run(tc)
	return l, nil
}

// Send queues an encoded message for the peer; it reports false (and
// counts a drop) when the queue is full.
func (l *Link) Send(frame []byte) bool {
	select {
	case l.queue <- frame:
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Connected reports whether the link has an established stream.
func (l *Link) Connected() bool { return l.connected.Load() }

// Connection numbers the link's current connection (1 for the first one
// established, then one more for each reconnection), or returns 0 while
// it has none: what the peer learnt from frames written on one connection
// (a client stream's reply routes) may be gone on the next.
func (l *Link) Connection() uint64 {
	if !l.connected.Load() {
		return 0
	}
	return l.conns.Load()
}

// Dropped returns how many frames the link dropped.
func (l *Link) Dropped() uint64 { return l.dropped.Load() }

// BadFrames returns how many frames read back did not decode.
func (l *Link) BadFrames() uint64 { return l.badFrames.Load() }

// Close stops the link and waits for its goroutines.
func (l *Link) Close() {
	l.cancel()
	l.wg.Wait()
}

func (l *Link) run(tc *tls.Config) {
	defer l.wg.Done()
	backoff := minBackoff
	for l.ctx.Err() == nil {
		conn, st, err := l.dial(tc)
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.log.Debug("pbft link: dial failed", "err", err)
			l.flush()
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		l.conns.Add(1)
		l.connected.Store(true)
		err = l.serve(conn, st)
		l.connected.Store(false)
		conn.CloseWithError(0, "")
		if l.ctx.Err() == nil {
			l.log.Debug("pbft link: connection lost", "err", err)
		}
	}
}

// flush drops every queued frame: they are stale once the peer is
// unreachable, and PBFT catches a returning peer up by itself.
func (l *Link) flush() {
	for {
		select {
		case <-l.queue:
			l.dropped.Add(1)
		default:
			return
		}
	}
}

func (l *Link) dial(tc *tls.Config) (*quic.Conn, *quic.Stream, error) {
	ua, err := net.ResolveUDPAddr("udp", l.cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve %s: %w", l.cfg.Addr, err)
	}
	ctx, cancel := context.WithTimeout(l.ctx, dialTimeout)
	defer cancel()
	conn, err := l.ep.tr.Dial(ctx, ua, tc.Clone(), quicConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", l.cfg.Addr, err)
	}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
		return nil, nil, fmt.Errorf("open stream to %s: %w", l.cfg.Addr, err)
	}
	if _, err := st.Write(l.header); err != nil {
		conn.CloseWithError(0, "")
		return nil, nil, fmt.Errorf("stream header to %s: %w", l.cfg.Addr, err)
	}
	return conn, st, nil
}

// serve writes queued frames to st until the connection fails or the link
// closes, reading back frames when the link has an OnMessage.
func (l *Link) serve(conn *quic.Conn, st *quic.Stream) error {
	if l.cfg.OnMessage != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			err := readMessages(bufio.NewReader(st), l.cfg.MaxFrame, &l.badFrames, l.log, l.cfg.OnMessage)
			if l.ctx.Err() == nil {
				l.log.Debug("pbft link: read back failed", "err", err)
			}
			conn.CloseWithError(0, "")
		}()
	}
	w := bufio.NewWriterSize(st, l.cfg.WriteBuffer)
	for {
		select {
		case <-l.ctx.Done():
			return l.ctx.Err()
		case <-conn.Context().Done():
			return context.Cause(conn.Context())
		case f := <-l.queue:
			if err := writeQueued(w, f, l.queue); err != nil {
				return err
			}
		}
	}
}

// writeQueued writes f and whatever else is queued, then flushes.
func writeQueued(w *bufio.Writer, f []byte, queue chan []byte) error {
	for {
		if err := writeFrame(w, f); err != nil {
			return err
		}
		select {
		case f = <-queue:
			continue
		default:
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		return nil
	}
}

// readMessages reads frames from r until it fails (it always returns the
// error that ended the stream, io.EOF for a clean end), decoding each and
// handing it to deliver (a reply group's replies one by one); a frame that
// does not decode is counted and dropped.
func readMessages(r *bufio.Reader, max int, bad *atomic.Uint64, log *slog.Logger, deliver func(pbft.Message)) error {
	var buf []byte // every frame is read here: a decoded message keeps nothing of it
	for {
		b, err := readFrameInto(r, max, buf)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				bad.Add(1)
				log.Warn("pbft transport: oversized frame, closing stream", "err", err)
			}
			return err
		}
		if cap(b) <= keptFrameBuffer {
			buf = b
		}
		if len(b) > 0 && pbft.Kind(b[0]) == pbft.KindReplyGroup {
			replies, err := pbft.DecodeReplyGroup(b)
			if err != nil {
				bad.Add(1)
				log.Debug("pbft transport: bad reply group dropped", "err", err)
				continue
			}
			for _, r := range replies {
				deliver(r)
			}
			continue
		}
		m, err := pbft.Decode(b)
		if err != nil {
			bad.Add(1)
			log.Debug("pbft transport: bad frame dropped", "err", err)
			continue
		}
		deliver(m)
	}
}
