package main

// Temporary: pins the dependencies while the packages that use them are written.
import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/armon/go-socks5"
	_ "github.com/creack/pty"
	_ "github.com/ebfe/scard"
	_ "github.com/elazarl/goproxy"
	_ "github.com/quic-go/quic-go"
	_ "go.etcd.io/bbolt"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/dns/dnsmessage"
	_ "golang.org/x/net/proxy"
)
