package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/x402/x402/sim"
)

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "x402 %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "SIM readers: %s\n", strings.Join(sim.BuiltinReaders(), ", "))
	return nil
}
