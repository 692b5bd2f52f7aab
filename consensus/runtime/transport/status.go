package transport

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"net"

	"github.com/x402/x402/internal/quicnet"
)

// maxStatusFrame bounds a status answer.
const maxStatusFrame = 64 << 10

// QueryStatus connects to the replica with key peer at addr as key, asks
// for its status on a status stream and returns the encoded answer.
func (e *Endpoint) QueryStatus(ctx context.Context, addr string, peer ed25519.PublicKey, key ed25519.PrivateKey) ([]byte, error) {
	tc, err := quicnet.ClientTLS(key, ALPN, peer)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	conn, err := e.tr.Dial(ctx, ua, tc, quicConfig())
	if err != nil {
		return nil, fmt.Errorf("status of %s: dial: %w", addr, err)
	}
	defer conn.CloseWithError(0, "")
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("status of %s: open stream: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if _, err := st.Write([]byte{StreamStatus}); err != nil {
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	b, err := readFrame(bufio.NewReader(st), maxStatusFrame)
	if err != nil {
		return nil, fmt.Errorf("status of %s: read: %w", addr, err)
	}
	return b, nil
}
