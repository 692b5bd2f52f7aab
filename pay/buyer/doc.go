// Package buyer owns the buyer agent's side of a payment channel: deciding
// what to pay for each signed usage statement (vouchers and hash-chain
// ticks), within its own caps on price and total spend, and never more than
// the bytes it counted itself plus a small tolerance.
//
// The agent pays a prepayment window ahead of the bills (Limits.PrepayBytes),
// so the seller's credit window never stalls the relay on a payment round
// trip; that window is what it can lose to a seller that stops relaying or
// crashes. At the end it pays the final bill exactly, and a cooperative
// close with an honest seller refunds what it paid ahead.
package buyer
