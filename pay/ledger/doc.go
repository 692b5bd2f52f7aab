// Package ledger owns the x402 ledger application: the genesis, the signed
// transactions (transfers, mint and burn, payment channels funded with an
// escrowed deposit, claims of vouchers and hash-chain ticks, closes and the
// faucet; SIM identity bindings, one account per SIM, registered with a
// signed sim.Claim and moved only by an explicit transfer), their canonical
// encoding, the deterministic state machine over a
// bbolt file (Apply), its state digest and invariants, and the Client
// interface through which sellers, buyers and the CLI submit transactions:
// an in-process single-node Sequencer and an HTTP transport for it.
//
// Apply is deterministic: it reads no clock and no randomness, and nothing
// that affects state depends on map iteration order. The timestamp of every
// transaction is an input, given by the sequencer (later: the PBFT primary),
// so every replica that applies the same transactions in the same order
// reaches the same state and the same Digest.
package ledger
