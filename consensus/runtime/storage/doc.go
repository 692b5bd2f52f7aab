// Package storage keeps a PBFT replica's durable state in a bbolt file: the
// hard state (view), the stable checkpoint with its snapshot, and the log
// entries above it, each batch in a record of its own so that an entry
// saved again as it prepares and commits does not write its batch again.
// Save writes one pbft.Persist in one fsynced
// transaction, which the runtime commits before it sends the messages that
// depend on it; Load returns what Restart needs. Values are encoded with
// the pbft codec inside a small strict envelope, so a corrupt or foreign
// file is reported with a clear error instead of being half-loaded.
package storage
