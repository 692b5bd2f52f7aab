package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/x402/x402/node"
	"github.com/x402/x402/pay"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	admin := fs.String("admin", "http://127.0.0.1:9402", "the node's admin API base URL")
	asJSON := fs.Bool("json", false, "print the raw JSON status")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, raw, err := fetchStatus(ctx, *admin)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	fmt.Fprintf(stdout, "x402 node %s, up %s\n", st.Version, (time.Duration(st.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(stdout, "socks5 %s   http %s\n\n", orDash(st.Listeners.SOCKS5), orDash(st.Listeners.HTTP))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "buyer\tup\tdown\tactive\tconns\towed\tpaid\tclaimed\tpauses\tmax unpaid\t")
	money := func(b node.BuyerStatus, a pay.Amount) string {
		if b.Channel == "" {
			return "-"
		}
		return a.String()
	}
	for _, b := range st.Buyers {
		pauses, unpaid := "-", "-"
		if b.Channel != "" {
			pauses, unpaid = fmt.Sprint(b.Pauses), humanBytes(b.MaxUnpaidBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", b.ID, humanBytes(b.BytesUp), humanBytes(b.BytesDown), b.ActiveConns, b.TotalConns,
			money(b, b.Owed), money(b, b.Paid), money(b, b.Claimed), pauses, unpaid)
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t%d\t%d\t\t\t\t\t\t\n", humanBytes(st.Totals.BytesUp), humanBytes(st.Totals.BytesDown), st.Totals.ActiveConns, st.Totals.TotalConns)
	return tw.Flush()
}

func fetchStatus(ctx context.Context, admin string) (node.Status, []byte, error) {
	var st node.Status
	url := strings.TrimSuffix(admin, "/") + "/api/v1/status"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, nil, usageError{fmt.Sprintf("status: --admin %q: %v", admin, err)}
	}
	// The admin API is local: never go through a proxy from the environment.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return st, nil, fmt.Errorf("status: is the node running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return st, nil, fmt.Errorf("status: read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("status: %s answered %s", url, resp.Status)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, nil, fmt.Errorf("status: decode %s: %w", url, err)
	}
	return st, raw, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats n in binary units.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
