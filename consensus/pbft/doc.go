// Package pbft owns the deterministic Castro-Liskov PBFT protocol core of a
// shard: the signed protocol messages and their wire encoding, the replica
// state machine (request, pre-prepare, prepare, commit, reply, batching,
// checkpoints with watermarks and log truncation, view change and new-view,
// state transfer) and the client-side reply collector.
//
// The core is shaped like go.etcd.io/raft: a Node takes messages (Step),
// client requests (Propose) and abstract ticks (Tick) and returns, through
// Ready, what must be persisted, what must be sent and which batches it
// executed. It has no goroutines, no clock, no I/O and no randomness; a
// runtime owns the transport, the timers and the storage. Given the same
// inputs in the same order, a Node produces the same outputs.
//
// The core knows nothing of money: it orders opaque []byte transactions for
// an Application, which it calls synchronously and deterministically when a
// batch is prepared or commits, at checkpoints (Digest, Snapshot) and on
// state transfer and rollback (Restore).
//
// Replicas execute a batch tentatively as soon as it is prepared and send
// tentative replies (Castro-Liskov's tentative execution; the runtime
// drives it with Ahead, outside Ready): a client accepts 2f+1
// matching tentative replies of one view, or f+1 committed ones, so
// finality takes four message delays instead of five. What ran ahead is
// rolled back if a view change replaces it (see tentative.go).
//
// A replica signs the replies of one batch once, over the root of a Merkle
// tree of them; each reply carries its proof and verifies on its own (see
// Reply). On the wire the replies to one client connection travel as a
// reply group (EncodeReplyGroup), which writes the shared parts once and
// only the proof hashes its replies cannot rebuild.
//
// Requests are signed by their client's key, except when the operation
// authenticates itself: an application whose transactions carry their
// sender's signature (the ledger) can vouch for an unsigned request
// (UnsignedRequest, Config.Authenticate) whose client id is the sender's
// key and whose timestamp the transaction's signature covers (its nonce).
// Each replica then checks one signature per request, the transaction's,
// instead of the request's and then the transaction's again; exactly-once
// is unchanged, since nobody without the key can make a request of that
// client at a timestamp it did not sign.
package pbft
