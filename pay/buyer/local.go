package buyer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/proxy"
)

// localBuyer is the local endpoint's one buyer id.
const localBuyer = "local"

// startLocal serves the local SOCKS5/HTTP endpoint, whose every tunnel goes
// to the seller's SOCKS5 proxy with the channel's credentials.
func (a *Agent) startLocal() error {
	if a.cfg.ListenSOCKS5 == "" && a.cfg.ListenHTTP == "" {
		return nil
	}
	pass := make([]byte, 12)
	if _, err := rand.Read(pass); err != nil {
		return fmt.Errorf("buyer: local endpoint: %w", err)
	}
	a.localUser, a.localPass = "x402", hex.EncodeToString(pass)
	auth, err := proxy.NewStaticAuth([]proxy.StaticBuyer{{Buyer: localBuyer, User: a.localUser, Password: a.localPass}})
	if err != nil {
		return err
	}
	w := a.welcome
	upstream := func(ctx context.Context, _, host string, port uint16) (*net.TCPConn, error) {
		return proxy.DialSOCKS5(ctx, w.SOCKS5, w.User, w.Password, host, port)
	}
	a.localMeter = meter.New()
	a.local, err = proxy.New(proxy.Config{
		Auth:     auth,
		Upstream: upstream,
		Meter:    a.localMeter,
		Logger:   a.log,
		// One local client may open many tunnels; the seller caps them.
		// Small chunks keep the count current: the agent pays for at most
		// what it counted plus a tolerance, and a chunk is counted when done.
		Limits: proxy.Limits{MaxConnsPerBuyer: 1 << 16, UnauthBurst: 1 << 10, UnauthEvery: time.Millisecond, ChunkBytes: 16 << 10},
	})
	if err != nil {
		return fmt.Errorf("buyer: local endpoint: %w", err)
	}
	for _, l := range []struct {
		addr  string
		dst   *net.Listener
		serve func(net.Listener) error
	}{{a.cfg.ListenSOCKS5, &a.socksL, a.local.ServeSOCKS5}, {a.cfg.ListenHTTP, &a.httpL, a.local.ServeHTTPProxy}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			a.stopLocal()
			return fmt.Errorf("buyer: local endpoint %s: %w", l.addr, err)
		}
		*l.dst = ln
		serve := l.serve
		a.serveWG.Add(1)
		go func() {
			defer a.serveWG.Done()
			serve(ln)
		}()
	}
	return nil
}

// stopLocal ends the local endpoint, letting tunnels finish briefly.
func (a *Agent) stopLocal() {
	if a.local == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.local.Shutdown(ctx)
	for _, l := range []net.Listener{a.socksL, a.httpL} {
		if l != nil {
			l.Close()
		}
	}
	a.serveWG.Wait()
}
