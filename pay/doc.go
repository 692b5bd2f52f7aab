// Package pay owns the money path's shared vocabulary: assets and integer
// nano-unit amounts, accounts, channel ids, domain-separated signatures,
// vouchers and PayWord hash chains. The ledger (pay/ledger), the payment
// session over QUIC (pay/session), the seller's credit gate and the buyer
// agent are built on it.
package pay
