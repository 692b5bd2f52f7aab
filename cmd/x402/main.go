// Command x402 is the bandwidth-sharing appliance: one binary whose
// subcommands run the seller node, inspect it, and demonstrate the whole
// system on loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand of x402.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"version", "print the version and the built-in SIM readers", runVersion},
		{"init", "create a node's key and a commented config file", runInit},
		{"node", "run the seller appliance until SIGINT/SIGTERM", runNode},
		{"status", "show what a running node reports", runStatus},
		{"demo", "run a whole local network on loopback, end to end", runDemo},
		{"sim", "read the SIM card's identity (sim info)", runSim},
		{"ledger", "create and serve a single-node development ledger", runLedger},
		{"shard", "create a PBFT shard of ledger replicas, or show its state (init, status)", runShard},
		{"replica", "run one replica of a shard until SIGINT/SIGTERM", runReplica},
		{"bench", "offer a steady ledger load to a shard and report finality (bench shard)", runBench},
		{"wallet", "create a wallet key, show balances, use the faucet", runWallet},
		{"channel", "open, list and close payment channels", runChannel},
		{"buy", "buy bandwidth from a seller, paying per byte until SIGINT", runBuy},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "x402:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	printUsage(stderr)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "x402 sells this machine's spare bandwidth to paying agents.")
	fmt.Fprintln(w, "\nUsage: x402 <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'x402 <command> -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("x402 "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, refusing stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
