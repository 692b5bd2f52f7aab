// Package runtime runs a PBFT shard: it drives the deterministic protocol
// core of package pbft with a clock, a QUIC transport (package transport)
// and durable bbolt storage (package storage).
//
// A Replica owns one event loop goroutine that feeds inbound messages,
// client requests and ticks to its pbft.Node, then persists the node's
// Ready in one fsynced transaction before sending its messages, and calls
// Advance. A Client submits operations through a pool of client
// identities, each one pbft.Client with its own connections, and returns a
// result once f+1 replicas sent matching replies (2f+1 tentative ones).
//
// Status reports a local replica's view, execution and stable checkpoint;
// QueryStatus asks a running replica for the same over the transport.
package runtime
