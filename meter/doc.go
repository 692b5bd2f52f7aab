// Package meter owns per-buyer byte accounting: bytes up and down, active and
// total connections, kept in atomics on the relay's hot path, persisted to a
// bbolt file and restored on start. It also defines the credit gate the relay
// consults before each chunk, which the payment layer implements.
//
// The package imports nothing of the project's: proxies and payments depend on
// it, never the reverse.
package meter
