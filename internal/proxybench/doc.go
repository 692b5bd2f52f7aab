// Command proxybench measures x402's proxies against established ones on
// loopback: bulk SOCKS5 download throughput and proxy CPU per GiB (against
// dante-server, microsocks and a direct connection), the small-request rate
// of the HTTP proxy (against tinyproxy), the memory of 1,000 idle
// authenticated SOCKS5 tunnels, and the relay's metering cost (by running
// BenchmarkRelay of package proxy).
//
// x402 runs as a real process built from ./cmd/x402 with a generated config;
// the other proxies run from their Debian packages with equivalent configs
// (username/password authentication, one listener on 127.0.0.1). The origin
// servers and all clients live in this process. Every proxy runs alone, in
// its own process group, for a fixed amount of work, three rounds each, and
// the median is reported with ratios against baselines of the same run.
//
// Usage (from the module root; `make bench` runs it):
//
//	go run ./internal/proxybench            # full run: 1 GiB downloads
//	go run ./internal/proxybench --quick    # smoke run in seconds
//	go run ./internal/proxybench --json     # machine-readable result
//	go run ./internal/proxybench --size 4GiB
//
// All traffic stays on 127.0.0.1. As root, the dante comparison uses a
// system user (x402bench, created for the run and removed after) because
// dante's username method checks the system password database; otherwise
// dante runs without authentication and the report says so.
package main
