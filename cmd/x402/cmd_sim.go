package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/x402/x402/sim"
)

// simInfoJSON is the JSON form of `x402 sim info`.
type simInfoJSON struct {
	Source      string `json:"source"`
	Device      string `json:"device"`
	SIMAnchored bool   `json:"sim_anchored"`
	IMSI        string `json:"imsi"`
	ICCID       string `json:"iccid"`
	Masked      bool   `json:"masked"`
	MCC         string `json:"mcc"`
	MNC         string `json:"mnc"`
	Commitment  string `json:"commitment"`
	ICCIDHash   string `json:"iccid_hash,omitempty"`
}

// simUsage prints the `x402 sim` help.
func simUsage(w io.Writer) {
	fmt.Fprint(w, `usage: x402 sim info [--pcsc READER] [--modem DEVICE] [--json] [--reveal] [--commitment-key HEX]

Reads the SIM that anchors this appliance's identity and shows where it was
read, its IMSI and ICCID (masked unless --reveal), MCC/MNC and, given the
network's commitment key, the IMSI commitment a SIM claim would carry.
Without --pcsc or --modem it uses the first PC/SC reader holding a card,
else the first modem port (/dev/ttyUSB*, /dev/ttyACM*, /dev/cdc-wdm*) that
answers AT.
`)
}

// runSim runs `x402 sim SUBCOMMAND ...`.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		simUsage(stderr)
		return errors.New("sim: missing subcommand (want: info)")
	}
	switch args[0] {
	case "info":
		return runSimInfo(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		simUsage(stdout)
		return nil
	}
	simUsage(stderr)
	return fmt.Errorf("sim: unknown subcommand %q (want: info)", args[0])
}

// runSimInfo runs `x402 sim info`.
func runSimInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("x402 sim info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		simUsage(stderr)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	pcscReader := fs.String("pcsc", "", "read the SIM in this PC/SC reader")
	modem := fs.String("modem", "", "read the SIM through this modem AT port, e.g. /dev/ttyUSB2")
	asJSON := fs.Bool("json", false, "print JSON")
	reveal := fs.Bool("reveal", false, "show the full IMSI and ICCID")
	keyHex := fs.String("commitment-key", "", "network commitment key in hex, to show the IMSI commitment")
	timeout := fs.Duration("timeout", 30*time.Second, "give up reading after this long")
	atTimeout := fs.Duration("at-timeout", sim.DefaultATTimeout, "wait this long for each modem answer")
	verbose := fs.Bool("v", false, "log the reader's exchange to stderr (reveals IMSI/ICCID bytes)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("sim info: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim info: unexpected arguments %q", fs.Args())
	}
	if *pcscReader != "" && *modem != "" {
		return errors.New("sim info: give --pcsc or --modem, not both")
	}
	var key []byte
	if *keyHex != "" {
		var err error
		if key, err = hex.DecodeString(*keyHex); err != nil {
			return fmt.Errorf("sim info: --commitment-key: %w", err)
		}
		if len(key) < sim.MinCommitmentKeyLen {
			return fmt.Errorf("sim info: --commitment-key has %d bytes, want at least %d", len(key), sim.MinCommitmentKeyLen)
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var r sim.Reader
	switch {
	case *pcscReader != "":
		r = &sim.PCSCReader{Reader: *pcscReader, Logger: log}
	case *modem != "":
		r = &sim.ModemReader{Device: *modem, Timeout: *atTimeout, Logger: log}
	default:
		var err error
		if r, err = sim.Discover(ctx, sim.DiscoverOptions{ATTimeout: *atTimeout, Logger: log}); err != nil {
			return fmt.Errorf("sim info: %w", err)
		}
	}
	id, err := r.ReadIdentity(ctx)
	if err != nil {
		return fmt.Errorf("sim info: %w", err)
	}

	out := simInfoJSON{
		Source:      string(id.Source.Kind),
		Device:      id.Source.Name,
		SIMAnchored: id.Source.SIMAnchored(),
		IMSI:        sim.MaskIMSI(id.IMSI),
		ICCID:       sim.MaskICCID(id.ICCID),
		Masked:      !*reveal,
		MCC:         id.MCC,
		MNC:         id.MNC,
	}
	if *reveal {
		out.IMSI, out.ICCID = id.IMSI, id.ICCID
	}
	if key != nil {
		c, err := sim.CommitIMSI(key, id.IMSI)
		if err != nil {
			return fmt.Errorf("sim info: %w", err)
		}
		h, err := sim.HashICCID(key, id.ICCID)
		if err != nil {
			return fmt.Errorf("sim info: %w", err)
		}
		out.Commitment, out.ICCIDHash = c.String(), h.String()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	commitment := out.Commitment
	if commitment == "" {
		commitment = "(needs --commitment-key)"
	}
	anchored := "yes"
	if !out.SIMAnchored {
		anchored = "no (configured identity)"
	}
	_, err = fmt.Fprintf(stdout, "source:       %s %s\nsim-anchored: %s\nimsi:         %s\niccid:        %s\nmcc/mnc:      %s/%s\ncommitment:   %s\n",
		out.Source, out.Device, anchored, out.IMSI, out.ICCID, out.MCC, out.MNC, commitment)
	return err
}
