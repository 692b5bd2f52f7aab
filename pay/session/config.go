package session

import (
	"log/slog"
	"time"

	"github.com/quic-go/quic-go"
)

// Version is the protocol version this package speaks.
const Version uint32 = 1

// Timeouts of the session.
const (
	// HelloTimeout bounds how long the seller waits for the buyer's Hello,
	// and the buyer for the Welcome when its context has no deadline.
	HelloTimeout = 10 * time.Second
	// IdleTimeout closes a connection that has heard nothing for this long.
	IdleTimeout = 30 * time.Second
	// KeepAlive is how often an idle connection is kept alive.
	KeepAlive = 10 * time.Second
	// writeTimeout bounds one frame write (a peer that stops reading).
	writeTimeout = 10 * time.Second
	// closeGrace is how long a side that sent a final frame (Error or the
	// seller's Close) waits for the peer to close the connection.
	closeGrace = time.Second
	// closeWait is how long the buyer's Close waits for the seller's answer.
	closeWait = 2 * time.Second
)

// quicConfig is the QUIC configuration of both ends: datagrams on, one
// bidirectional stream opened by the buyer, no unidirectional streams.
func quicConfig(server bool) *quic.Config {
	c := &quic.Config{
		HandshakeIdleTimeout:  5 * time.Second,
		MaxIdleTimeout:        IdleTimeout,
		KeepAlivePeriod:       KeepAlive,
		EnableDatagrams:       true,
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	}
	if server {
		c.MaxIncomingStreams = 1
	}
	return c
}

// orDiscard returns log, or a logger that drops everything when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
