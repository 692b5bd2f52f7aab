package shard

import "github.com/x402/x402/consensus/runtime/transport"

// Option tunes a replica or a client (benchmarks and tests).
type Option func(*opts)

type opts struct {
	impairment transport.Impairment
	identities int
}

func options(list []Option) opts {
	var o opts
	for _, f := range list {
		f(&o)
	}
	return o
}

// WithImpairment delays (and drops) every datagram sent, to emulate a link
// on loopback.
func WithImpairment(im transport.Impairment) Option { return func(o *opts) { o.impairment = im } }

// WithIdentities sets how many client identities (concurrent requests) a
// ledger client uses.
func WithIdentities(n int) Option { return func(o *opts) { o.identities = n } }
