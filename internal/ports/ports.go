// Package ports picks free loopback ports for services that are configured
// now and started later (a shard's replicas, a test's node), outside the
// range the kernel hands out to sockets bound to port 0.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Min is the lowest port Free picks, above the registered services.
const Min = 10000

// Free returns n distinct loopback ports free now for network ("tcp" or
// "udp"), picked at random below the kernel's ephemeral range: a socket
// bound to an ephemeral port (any outgoing connection, any QUIC client)
// can never take one of them before its service starts.
func Free(network string, n int) ([]int, error) {
	lo, hi := Min, EphemeralFrom()
	tried := map[int]bool{}
	var ports []int
	for len(ports) < n && len(tried) < hi-lo {
		p := lo + rand.IntN(hi-lo)
		if tried[p] {
			continue
		}
		tried[p] = true
		if free(network, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("only %d free %s ports in [%d, %d), want %d", len(ports), network, lo, hi, n)
	}
	return ports, nil
}

// FreeRun returns the first of n consecutive loopback ports free now for
// network, picked at random below the kernel's ephemeral range as by Free
// (for a service that listens on a run of ports, like vpcd's one per
// reader slot).
func FreeRun(network string, n int) (int, error) {
	lo, hi := Min, EphemeralFrom()-n+1
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		ok := true
		for i := range n {
			ok = ok && free(network, p+i)
		}
		if ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free %s ports in [%d, %d)", n, network, lo, hi+n-1)
}

func free(network string, port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		return pc.Close() == nil
	default:
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		return l.Close() == nil
	}
}

// EphemeralFrom returns where the kernel's ephemeral port range starts
// (Linux's ip_local_port_range; 32768, its default, when it cannot be read
// or leaves too little room below it).
func EphemeralFrom() int {
	const dflt = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return dflt
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return dflt
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < Min+1000 {
		return dflt
	}
	return lo
}
