package sim

import (
	"context"
	"fmt"
)

// ConfigReader returns an identity configured by the operator, for devices
// without a SIM. Its identity has Source.Kind SourceConfig and is not
// SIM-anchored: the ledger can tell it from a SIM read.
type ConfigReader struct {
	// IMSI and ICCID are the configured numbers.
	IMSI, ICCID string
	// MNCLength is 2 or 3; any other value uses the country table.
	MNCLength int
	// Name says where the values came from (e.g. the config file path);
	// empty means "config".
	Name string
}

// ReadIdentity validates and returns the configured identity.
func (c ConfigReader) ReadIdentity(ctx context.Context) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	name := c.Name
	if name == "" {
		name = "config"
	}
	id, err := newIdentity(c.IMSI, c.ICCID, c.MNCLength, Source{Kind: SourceConfig, Name: name})
	if err != nil {
		return Identity{}, fmt.Errorf("configured SIM identity: %w", err)
	}
	return id, nil
}
