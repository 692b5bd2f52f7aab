// Package shard owns a PBFT shard of ledger replicas as files and
// processes: the shard genesis (the ledger's genesis plus the replicas' ids,
// keys and addresses), each replica's config, and the wiring of one replica
// (the consensus runtime over the replicated ledger) and of a ledger client
// that talks to the whole shard.
package shard
