// Package buyer owns the buyer agent's side of a payment channel: deciding
// what to pay for each signed usage statement (vouchers and hash-chain
// ticks), within its own caps on price and total spend, and never more than
// the bytes it counted itself plus a small tolerance.
package buyer
