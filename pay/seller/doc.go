// Package seller owns the seller appliance's side of payment channels: it
// admits a channel's buyer to the proxies with channel-bound credentials,
// keeps the best voucher (and hash-chain ticks) it holds per channel,
// persists it with fsync before extending more credit, and implements the
// meter's credit gate: a buyer may run at most a credit window of bytes
// beyond what its durable payments cover; past it, its relays pause, and
// after a grace period without payment its connections are cut. Unclaimed
// value above a threshold is claimed on the ledger automatically, and
// everything owed when the channel's session ends.
//
// Buyers pay ahead of their bills; the seller claims only what was used
// (ticks beyond it are hashed back), and takes a final voucher below what
// it holds for a cooperative close, so the buyer's prepayment is refunded.
package seller
