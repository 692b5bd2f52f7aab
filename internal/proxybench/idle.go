package main

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// idleRound is the proxy's memory before and with the idle tunnels open.
type idleRound struct {
	Before memory `json:"before"`
	With   memory `json:"with_tunnels"`
}

// idleRun opens b.opts.idle tunnels through s to the idle origin (32 at a
// time), each proven with a one-byte echo, measures the proxy's memory with
// all of them open, and closes them.
func (b *bench) idleRun(ctx context.Context, s *server) (idleRound, error) {
	var r idleRound
	origin := b.org.idleAddr()
	c, err := s.tunnel(ctx, origin)
	if err != nil {
		return r, fmt.Errorf("warm-up tunnel: %w", err)
	}
	c.Close()
	if r.Before, err = groupMemory(s.proc.pgid()); err != nil {
		return r, err
	}
	conns := make([]net.Conn, b.opts.idle)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	jobs := make(chan int)
	errs := make(chan error, b.opts.idle)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				c, err := s.tunnel(ctx, origin)
				if err != nil {
					errs <- fmt.Errorf("tunnel %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range conns {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	if err := s.proc.check(); err != nil {
		return r, err
	}
	r.With, err = groupMemory(s.proc.pgid())
	return r, err
}
