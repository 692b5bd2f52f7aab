package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// atPort is the byte stream to a modem's AT interface.
type atPort interface {
	read(ctx context.Context, buf []byte, deadline time.Time) (int, error)
	write(ctx context.Context, b []byte, deadline time.Time) error
}

// atSession sends AT commands one at a time and collects their answers.
type atSession struct {
	port    atPort
	timeout time.Duration
	log     *slog.Logger
	// dirty is set after a timeout: a late answer may still arrive, so the
	// next command first resynchronises with a plain AT.
	dirty bool
}

// drain discards whatever the modem sent unasked (URCs, late answers).
func (s *atSession) drain(ctx context.Context) error {
	var buf [256]byte
	for {
		n, err := s.port.read(ctx, buf[:], time.Now())
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		s.log.Debug("at discard", "bytes", string(buf[:n]))
	}
}

// atQuiet is how long the port must stay silent for a resynchronisation
// after a timeout to finish.
const atQuiet = 100 * time.Millisecond

// drainQuiet discards input until the port has been silent for atQuiet, or
// for at most the command timeout.
func (s *atSession) drainQuiet(ctx context.Context) error {
	var buf [256]byte
	end := time.Now().Add(s.timeout)
	for time.Now().Before(end) {
		n, err := s.port.read(ctx, buf[:], time.Now().Add(atQuiet))
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		s.log.Debug("at discard", "bytes", string(buf[:n]))
	}
	return nil
}

// command sends cmd and returns its answer. A final result other than OK is
// an *ATError; no final result within the timeout is ErrTimeout.
func (s *atSession) command(ctx context.Context, cmd string) (atResponse, error) {
	if s.dirty {
		if _, err := s.exchange(ctx, "AT"); err != nil {
			return atResponse{}, fmt.Errorf("%s: resynchronise after a timeout: %w", cmd, err)
		}
		// The OK may have been the late answer's; let the rest of what
		// the modem owes arrive and discard it.
		if err := s.drainQuiet(ctx); err != nil {
			return atResponse{}, fmt.Errorf("%s: resynchronise after a timeout: %w", cmd, err)
		}
		s.dirty = false
	}
	resp, err := s.exchange(ctx, cmd)
	if errors.Is(err, ErrTimeout) {
		s.dirty = true
	}
	return resp, err
}

// exchange writes cmd and reads its answer.
func (s *atSession) exchange(ctx context.Context, cmd string) (atResponse, error) {
	if err := s.drain(ctx); err != nil {
		return atResponse{}, fmt.Errorf("%s: %w", cmd, err)
	}
	deadline := time.Now().Add(s.timeout)
	if err := s.port.write(ctx, []byte(cmd+"\r"), deadline); err != nil {
		return atResponse{}, fmt.Errorf("%s: %w", cmd, err)
	}
	p := atParser{cmd: cmd}
	var buf [256]byte
	for !p.done {
		n, err := s.port.read(ctx, buf[:], deadline)
		if err != nil {
			return atResponse{}, fmt.Errorf("%s: %w", cmd, err)
		}
		if n == 0 {
			return atResponse{}, fmt.Errorf("%s: %w: no final result within %s (lines so far: %q)", cmd, ErrTimeout, s.timeout, p.resp.lines)
		}
		p.feed(buf[:n])
	}
	s.log.Debug("at", "cmd", cmd, "lines", len(p.resp.lines), "final", p.resp.final)
	if p.err != nil {
		return atResponse{}, fmt.Errorf("%s: %w", cmd, p.err)
	}
	if p.resp.final != "OK" {
		return p.resp, &ATError{Command: cmd, Result: p.resp.final}
	}
	return p.resp, nil
}
