package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/x402/x402/pay"
	"github.com/x402/x402/proxy"
	"github.com/x402/x402/proxy/egress"
)

// Config is a node's configuration file (TOML).
type Config struct {
	Node     NodeSection     `toml:"node"`
	Proxy    ProxySection    `toml:"proxy"`
	Egress   EgressSection   `toml:"egress"`
	Admin    AdminSection    `toml:"admin"`
	Meter    MeterSection    `toml:"meter"`
	Payments PaymentsSection `toml:"payments"`
	Replica  ReplicaSection  `toml:"replica"`
	Buyers   []BuyerEntry    `toml:"buyers"`
	baseDir  string          // directory relative paths are resolved against
}

// NodeSection names the node's key and state directory.
type NodeSection struct {
	Key      string `toml:"key"`
	StateDir string `toml:"state_dir"`
}

// ProxySection configures both front ends' listeners and limits.
type ProxySection struct {
	SOCKS5Listen     string   `toml:"socks5_listen"`
	HTTPListen       string   `toml:"http_listen"`
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	IdleTimeout      Duration `toml:"idle_timeout"`
	MaxConns         int      `toml:"max_conns"`
	MaxConnsPerBuyer int      `toml:"max_conns_per_buyer"`
	UnauthBurst      int      `toml:"unauth_burst"`
	UnauthEvery      Duration `toml:"unauth_every"`
	ChunkBytes       int64    `toml:"chunk_bytes"`
}

// EgressSection is the egress policy's configuration.
type EgressSection struct {
	DefaultDeny bool     `toml:"default_deny"`
	DenyPorts   []uint16 `toml:"deny_ports"`
	AllowPorts  []uint16 `toml:"allow_ports"`
	Allow       []string `toml:"allow"`
}

// AdminSection configures the local admin API.
type AdminSection struct {
	Listen string `toml:"listen"`
}

// MeterSection configures usage persistence.
type MeterSection struct {
	SaveEvery Duration `toml:"save_every"`
}

// PaymentsSection turns on selling for money: the QUIC payment session
// buyers pay through, and the ledger channels are settled on.
type PaymentsSection struct {
	Listen         string   `toml:"listen"`          // UDP address of the payment session; "" turns payments off
	Ledger         string   `toml:"ledger"`          // the ledger's HTTP API base URL
	Genesis        string   `toml:"genesis"`         // or a shard genesis file: use that PBFT shard as the ledger
	Asset          string   `toml:"asset"`           // USD or X402
	PricePerGiB    string   `toml:"price_per_gib"`   // decimal units per GiB, e.g. "0.50"
	CreditWindow   uint64   `toml:"credit_window"`   // bytes a buyer may run ahead of its payments
	Grace          Duration `toml:"grace"`           // paused this long without payment: cut
	ClaimThreshold string   `toml:"claim_threshold"` // claim automatically above this many units
	StatementEvery uint64   `toml:"statement_every"` // bytes between usage statements
	PublicHost     string   `toml:"public_host"`     // host buyers reach the proxies at, when they listen on 0.0.0.0
}

// enabled reports whether payments are configured.
func (p PaymentsSection) enabled() bool { return p.Listen != "" }

// terms parses the price and claim threshold.
func (p PaymentsSection) terms() (asset pay.Asset, price, threshold pay.Amount, err error) {
	asset = pay.Asset(p.Asset)
	if asset == "" {
		asset = pay.USD
	}
	if !asset.Valid() {
		return "", 0, 0, fmt.Errorf("payments.asset %q: want USD or X402", p.Asset)
	}
	if price, err = pay.ParseAmount(p.PricePerGiB); err != nil {
		return "", 0, 0, fmt.Errorf("payments.price_per_gib: %w", err)
	}
	if p.ClaimThreshold != "" {
		if threshold, err = pay.ParseAmount(p.ClaimThreshold); err != nil {
			return "", 0, 0, fmt.Errorf("payments.claim_threshold: %w", err)
		}
	}
	return asset, price, threshold, nil
}

// ReplicaSection runs a shard replica inside the node.
type ReplicaSection struct {
	// Config is the replica's config file (see x402 shard init); "" runs none.
	Config string `toml:"config"`
}

// BuyerEntry is one row of the static buyer table.
type BuyerEntry struct {
	ID       string `toml:"id"`
	User     string `toml:"user"`
	Password string `toml:"password"`
}

// Duration is a time.Duration written as "10s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %s is negative", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultConfig is what `x402 init` writes, before buyers are added.
func DefaultConfig() Config {
	return Config{
		Node:  NodeSection{Key: "node.key", StateDir: "state"},
		Proxy: ProxySection{SOCKS5Listen: "0.0.0.0:1080", HTTPListen: "0.0.0.0:8080"},
		Admin: AdminSection{Listen: "127.0.0.1:9402"},
		Meter: MeterSection{SaveEvery: Duration{30 * time.Second}},
	}
}

// LoadConfig reads and validates a config file. Unknown keys are errors, so
// a typo never silently falls back to a default.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.baseDir = filepath.Dir(abs)
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate reports the first problem in cfg.
func (c *Config) Validate() error {
	if c.Proxy.SOCKS5Listen == "" && c.Proxy.HTTPListen == "" {
		return errors.New("proxy: neither socks5_listen nor http_listen is set")
	}
	for name, addr := range map[string]string{
		"proxy.socks5_listen": c.Proxy.SOCKS5Listen,
		"proxy.http_listen":   c.Proxy.HTTPListen,
		"admin.listen":        c.Admin.Listen,
	} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if _, err := egress.New(c.egressConfig()); err != nil {
		return fmt.Errorf("egress: %w", err)
	}
	if _, err := proxy.NewStaticAuth(c.staticBuyers()); err != nil {
		return fmt.Errorf("buyers: %w", err)
	}
	if c.Payments.enabled() {
		if _, _, err := net.SplitHostPort(c.Payments.Listen); err != nil {
			return fmt.Errorf("payments.listen: %w", err)
		}
		if _, _, _, err := c.Payments.terms(); err != nil {
			return err
		}
	}
	return nil
}

// resolve makes p absolute against the config file's directory.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.baseDir == "" {
		return p
	}
	return filepath.Join(c.baseDir, p)
}

func (c *Config) egressConfig() egress.Config {
	return egress.Config{DefaultDeny: c.Egress.DefaultDeny, DenyPorts: c.Egress.DenyPorts, AllowPorts: c.Egress.AllowPorts, Allow: c.Egress.Allow}
}

func (c *Config) staticBuyers() []proxy.StaticBuyer {
	out := make([]proxy.StaticBuyer, len(c.Buyers))
	for i, b := range c.Buyers {
		out[i] = proxy.StaticBuyer{Buyer: b.ID, User: b.User, Password: b.Password}
	}
	return out
}

func (c *Config) limits() proxy.Limits {
	p := c.Proxy
	return proxy.Limits{
		HandshakeTimeout: p.HandshakeTimeout.Duration,
		IdleTimeout:      p.IdleTimeout.Duration,
		MaxConns:         p.MaxConns,
		MaxConnsPerBuyer: p.MaxConnsPerBuyer,
		UnauthBurst:      p.UnauthBurst,
		UnauthEvery:      p.UnauthEvery.Duration,
		ChunkBytes:       p.ChunkBytes,
	}
}

// WriteDefault writes a commented config file for a new node at path (0600:
// it will hold buyers' passwords).
func WriteDefault(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.WriteString(defaultConfigText); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return f.Close()
}

const defaultConfigText = `# x402 node configuration. Relative paths are relative to this file.

[node]
# The node's ed25519 key (created by "x402 init", mode 0600).
key = "node.key"
# Where usage and other state are kept (bbolt files, mode 0700).
state_dir = "state"

[proxy]
# Listeners for buyers' traffic; set one to "" to turn that front end off.
socks5_listen = "0.0.0.0:1080"
http_listen = "0.0.0.0:8080"
# From accept to an authenticated request.
handshake_timeout = "10s"
# A tunnel with no byte in either direction for this long is closed.
idle_timeout = "5m"
# Connections held at once, in all and per buyer.
max_conns = 1024
max_conns_per_buyer = 64
# Unauthenticated attempts per source address: a burst, refilled one per interval.
unauth_burst = 32
unauth_every = "250ms"
# Bytes relayed between two meter updates and credit checks.
chunk_bytes = 262144

[egress]
# When true, only the allow entries below may be reached.
default_deny = false
# Loopback, private, link-local, CGNAT, multicast, documentation ranges, IPv4
# embedded in IPv6 and this node's own addresses are always denied.
deny_ports = [25]
# When non-empty, only these destination ports may be used.
allow_ports = []
# The only way around the rules above: "HOST:PORT" or "CIDR:PORT" (PORT may be "*").
# Every use is logged.
allow = []

[admin]
# The local admin API (GET /api/v1/status). Keep it on loopback.
listen = "127.0.0.1:9402"

[meter]
# How often usage is written to disk (also on shutdown).
save_every = "30s"

[payments]
# Sell for money: buyers open a channel on the ledger and pay through the
# payment session (QUIC, UDP) as their traffic flows. "" turns it off.
listen = ""
# The ledger: its HTTP API (a development ledger), or the genesis file of
# the PBFT shard that runs it (then "ledger" is not used).
ledger = ""
genesis = ""
asset = "USD"
price_per_gib = "0.50"
# Bytes a buyer may run beyond what it has paid for; then its traffic pauses.
credit_window = 65536
# A paused buyer is cut off after this long without paying.
grace = "10s"
# Claim on the ledger whenever this much is unclaimed (and when a session ends).
claim_threshold = "0.01"
# Bytes between two usage statements to a buyer (buyers pay ahead, so this
# need not be below credit_window, but must stay well below the buyers'
# prepayment, 32 MiB by default; 16777216 keeps payments near 0.005% of the
# relayed bytes and their CPU within 5% of the relay's).
statement_every = 16777216
# The host buyers reach the proxies at when they listen on 0.0.0.0.
public_host = ""

[replica]
# Run a replica of a PBFT ledger shard inside this node: the path of its
# config file (x402 shard init writes one per replica). "" runs none.
config = ""

# Buyers allowed to use the proxies. The payment layer adds channel-bound
# credentials on top of this static table.
# [[buyers]]
# id = "alice"
# user = "alice"
# password = "change-me"
`

// KeyPath is the node's key file, resolved against the config's directory.
func (c *Config) KeyPath() string { return c.resolve(c.Node.Key) }
