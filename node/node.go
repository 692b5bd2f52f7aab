package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/x402/x402/meter"
	"github.com/x402/x402/pay/ledger"
	"github.com/x402/x402/proxy"
	"github.com/x402/x402/proxy/egress"
	"github.com/x402/x402/shard"
)

// Options are what a node takes besides its config file.
type Options struct {
	Version  string
	Logger   *slog.Logger        // nil: slog.Default()
	Resolver egress.Resolver     // nil: the system resolver
	Gate     meter.Gate          // nil: meter.AllowAll
	Auth     proxy.Authenticator // nil: the config's static buyer table
	Key      ed25519.PrivateKey  // the node's key (required for payments)
	Ledger   ledger.Client       // nil: payments.ledger over HTTP
}

// Node is a running seller appliance.
type Node struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	started time.Time

	meter  *meter.Meter
	store  *meter.Store
	policy *egress.Policy
	proxy  *proxy.Proxy
	pay    *payments     // nil unless payments are configured
	member *shard.Member // nil unless a replica is configured
	// shardClient is the payments' ledger client when it is a shard.
	shardClient *shard.LedgerClient

	socksL, httpL, adminL net.Listener
	admin                 *http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

// Addrs are the addresses a started node listens on.
type Addrs struct {
	SOCKS5 string `json:"socks5,omitempty"`
	HTTP   string `json:"http,omitempty"`
	Admin  string `json:"admin,omitempty"`
	// Payments is the payment session's UDP address.
	Payments string `json:"payments,omitempty"`
}

// Start opens the state, binds every listener and starts serving. Listening
// on port 0 is fine; Addrs tells the ports taken.
func Start(cfg Config, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, opts: opts, log: opts.Logger, started: time.Now(), meter: meter.New(), errs: make(chan error, 4)}
	if err := n.start(); err != nil {
		n.closeAll()
		return nil, err
	}
	return n, nil
}

func (n *Node) start() error {
	var err error
	stateDir := n.cfg.resolve(n.cfg.Node.StateDir)
	if stateDir == "" {
		return errors.New("node.state_dir is not set")
	}
	if n.store, err = meter.OpenStore(filepath.Join(stateDir, "meter.db")); err != nil {
		return err
	}
	if err := n.store.Load(n.meter); err != nil {
		return err
	}
	if n.policy, err = egress.New(n.cfg.egressConfig()); err != nil {
		return fmt.Errorf("egress: %w", err)
	}
	if err := n.policy.RefreshNodeAddrs(); err != nil {
		return fmt.Errorf("egress: read this node's addresses: %w", err)
	}
	if n.cfg.Replica.Config != "" {
		rc, err := shard.LoadReplicaConfig(n.cfg.resolve(n.cfg.Replica.Config))
		if err != nil {
			return err
		}
		if n.member, err = shard.StartReplica(rc, n.log); err != nil {
			return err
		}
	}
	auth := n.opts.Auth
	if auth == nil {
		if auth, err = proxy.NewStaticAuth(n.cfg.staticBuyers()); err != nil {
			return fmt.Errorf("buyers: %w", err)
		}
	}
	gate := n.opts.Gate
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if n.cfg.Payments.enabled() {
		if n.pay, err = n.startPayments(ctx, stateDir); err != nil {
			return err
		}
		auth = n.pay.authenticator(auth)
		gate = n.pay.seller
	}
	n.proxy, err = proxy.New(proxy.Config{
		Auth:   auth,
		Egress: &egress.Dialer{Policy: n.policy, Resolver: n.opts.Resolver, Logger: n.log},
		Meter:  n.meter,
		Gate:   gate,
		Limits: n.cfg.limits(),
		Logger: n.log,
	})
	if err != nil {
		return err
	}
	if n.socksL, err = listen("proxy.socks5_listen", n.cfg.Proxy.SOCKS5Listen); err != nil {
		return err
	}
	if n.httpL, err = listen("proxy.http_listen", n.cfg.Proxy.HTTPListen); err != nil {
		return err
	}
	if n.adminL, err = listen("admin.listen", n.cfg.Admin.Listen); err != nil {
		return err
	}

	// Buyers never reach this node's own listeners, whatever the allow list.
	var ports []uint16
	for _, l := range []net.Listener{n.socksL, n.httpL, n.adminL} {
		if l != nil {
			ports = append(ports, uint16(l.Addr().(*net.TCPAddr).Port))
		}
	}
	n.policy.SetNodePorts(ports)
	if n.pay != nil {
		if err := n.pay.serve(ctx, addrString(n.socksL), addrString(n.httpL)); err != nil {
			return err
		}
	}
	n.goServe("socks5", n.socksL, n.proxy.ServeSOCKS5)
	n.goServe("http", n.httpL, n.proxy.ServeHTTPProxy)
	if n.adminL != nil {
		n.admin = &http.Server{Handler: n.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
		n.goServe("admin", n.adminL, func(l net.Listener) error {
			if err := n.admin.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	save := n.cfg.Meter.SaveEvery.Duration
	if save <= 0 {
		save = 30 * time.Second
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.store.Run(ctx, n.meter, save, n.log) // the final save happens in Shutdown
	}()
	go func() {
		defer n.wg.Done()
		n.refreshAddrs(ctx)
	}()
	n.log.Info("node started", "socks5", addrString(n.socksL), "http", addrString(n.httpL), "admin", addrString(n.adminL))
	return nil
}

// refreshAddrs keeps the egress policy's view of this node's own addresses
// current (a WAN address from DHCP changes).
func (n *Node) refreshAddrs(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.policy.RefreshNodeAddrs(); err != nil {
				n.log.Warn("refresh node addresses failed", "err", err)
			}
		}
	}
}

func (n *Node) goServe(name string, l net.Listener, serve func(net.Listener) error) {
	if l == nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := serve(l); err != nil {
			n.errs <- fmt.Errorf("%s listener: %w", name, err)
		}
	}()
}

func listen(name, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Addrs returns the bound listener addresses.
func (n *Node) Addrs() Addrs {
	a := Addrs{SOCKS5: addrString(n.socksL), HTTP: addrString(n.httpL), Admin: addrString(n.adminL)}
	if n.pay != nil && n.pay.server != nil {
		a.Payments = n.pay.addr()
	}
	return a
}

// Meter returns the node's meter.
func (n *Node) Meter() *meter.Meter { return n.meter }

// Errors reports a listener that failed while serving.
func (n *Node) Errors() <-chan error { return n.errs }

// Shutdown stops accepting, drains live tunnels until ctx ends (then cuts
// them), saves usage and closes the state.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	if n.admin != nil {
		n.admin.Shutdown(ctx)
	}
	if err := n.proxy.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.pay != nil {
		if err := n.pay.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	n.cancel()
	n.wg.Wait()
	if n.pay != nil {
		errs = append(errs, n.pay.store.Close())
	}
	if n.shardClient != nil {
		errs = append(errs, n.shardClient.Close())
	}
	if n.member != nil {
		errs = append(errs, n.member.Close())
	}
	if err := n.store.Save(n.meter); err != nil {
		errs = append(errs, err)
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, err)
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// closeAll releases what a failed Start opened.
func (n *Node) closeAll() {
	for _, l := range []net.Listener{n.socksL, n.httpL, n.adminL} {
		if l != nil {
			l.Close()
		}
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.pay != nil {
		if n.pay.server != nil {
			n.pay.server.Close()
		}
		n.pay.store.Close()
	}
	if n.shardClient != nil {
		n.shardClient.Close()
	}
	if n.member != nil {
		n.member.Close()
	}
}
