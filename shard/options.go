package shard

import (
	"github.com/x402/x402/consensus/runtime"
	"github.com/x402/x402/consensus/runtime/transport"
)

// Option tunes a replica or a client (benchmarks and tests).
type Option func(*opts)

type opts struct {
	impairment transport.Impairment
	identities int
	batchTimes func(runtime.BatchTimes)
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

// WithBatchTimes has a replica report when it reached each step of every
// batch it executes (see runtime.BatchTimes); f is called from its event
// loop and must not block.
func WithBatchTimes(f func(runtime.BatchTimes)) Option { return func(o *opts) { o.batchTimes = f } }
