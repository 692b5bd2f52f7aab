// Package pbftsim owns the deterministic simulator of the PBFT core: many
// replicas and clients in one goroutine under a seeded scheduler that
// drops, delays, duplicates and reorders messages, partitions the network
// and heals it, crashes replicas and restarts them from their persisted
// state, and runs one Byzantine replica (an equivocating primary, a sender
// of forged, stale and garbage messages, a twin sharing a key, or a silent
// one). After every run it checks agreement, checkpoint agreement,
// exactly-once execution and, once faults stop, liveness.
package pbftsim
