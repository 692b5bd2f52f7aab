//go:build !linux

package sim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// serialPort is unavailable off Linux: the appliance runs Linux.
type serialPort struct{}

// openSerial fails: modem AT ports are supported on Linux only.
func openSerial(path string) (*serialPort, error) {
	return nil, fmt.Errorf("open %s: %w", path, errors.ErrUnsupported)
}

// Close does nothing.
func (p *serialPort) Close() error { return nil }

// read fails.
func (p *serialPort) read(ctx context.Context, buf []byte, deadline time.Time) (int, error) {
	return 0, errors.ErrUnsupported
}

// write fails.
func (p *serialPort) write(ctx context.Context, b []byte, deadline time.Time) error {
	return errors.ErrUnsupported
}
