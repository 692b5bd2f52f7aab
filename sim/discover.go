package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// DefaultModemGlobs are the device paths Discover probes for a modem's AT
// port.
func DefaultModemGlobs() []string {
	return []string{"/dev/ttyUSB*", "/dev/ttyACM*", "/dev/cdc-wdm*"}
}

// DiscoverOptions tunes Discover.
type DiscoverOptions struct {
	// ModemGlobs are the device path patterns to probe; nil means
	// DefaultModemGlobs.
	ModemGlobs []string
	// SkipPCSC leaves PC/SC readers out.
	SkipPCSC bool
	// ProbeTimeout bounds each modem port's answer to AT; zero means one
	// second.
	ProbeTimeout time.Duration
	// ATTimeout is the returned ModemReader's per-command timeout.
	ATTimeout time.Duration
	// Logger receives debug traces; nil discards them.
	Logger *slog.Logger
}

// Discover returns a reader for the first PC/SC reader holding a card, else
// for the first modem port that answers AT. ErrNoReader lists what was
// tried.
func Discover(ctx context.Context, opts DiscoverOptions) (Reader, error) {
	log := nopLogger(opts.Logger)
	var tried []error
	if !opts.SkipPCSC {
		readers, err := ListPCSCReaders(ctx)
		switch {
		case err != nil:
			tried = append(tried, err)
		case len(readers) == 0:
			tried = append(tried, errors.New("pcsc: no readers"))
		}
		for _, r := range readers {
			if r.CardPresent {
				log.Debug("discovered PC/SC reader", "reader", r.Name)
				return &PCSCReader{Reader: r.Name, Logger: opts.Logger}, nil
			}
			tried = append(tried, fmt.Errorf("pcsc %q: %w", r.Name, ErrNoCard))
		}
	}
	globs := opts.ModemGlobs
	if globs == nil {
		globs = DefaultModemGlobs()
	}
	probe := opts.ProbeTimeout
	if probe <= 0 {
		probe = time.Second
	}
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("discover: modem pattern %q: %w", g, err)
		}
		for _, p := range paths {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := ProbeModem(ctx, p, probe); err != nil {
				tried = append(tried, err)
				continue
			}
			log.Debug("discovered modem", "device", p)
			return &ModemReader{Device: p, Timeout: opts.ATTimeout, Logger: opts.Logger}, nil
		}
	}
	if len(tried) == 0 {
		return nil, fmt.Errorf("discover: %w (no PC/SC readers, no modem ports matching %v)", ErrNoReader, globs)
	}
	return nil, fmt.Errorf("discover: %w: %w", ErrNoReader, errors.Join(tried...))
}
