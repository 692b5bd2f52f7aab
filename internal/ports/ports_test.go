package ports

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePicksDistinctPortsBelowTheEphemeralRange(t *testing.T) {
	from := EphemeralFrom()
	for _, network := range []string{"tcp", "udp"} {
		for range 5 {
			ps, err := Free(network, 7)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int]bool{}
			for _, p := range ps {
				if p < Min || p >= from || seen[p] {
					t.Fatalf("%s: ports %v: want 7 distinct in [%d, %d)", network, ps, Min, from)
				}
				seen[p] = true
			}
		}
	}
}

func TestFreeSkipsAPortInUse(t *testing.T) {
	// A port someone listens on is not free.
	ps, err := Free("tcp", 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ps[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if free("tcp", ps[0]) {
		t.Fatalf("port %d is in use but reported free", ps[0])
	}
}

func TestFreeRunIsConsecutiveFreeAndBelowTheEphemeralRange(t *testing.T) {
	from := EphemeralFrom()
	for range 20 {
		p, err := FreeRun("tcp", 2)
		if err != nil {
			t.Fatal(err)
		}
		if p < Min || p+1 >= from {
			t.Fatalf("run %d-%d: want within [%d, %d)", p, p+1, Min, from)
		}
		for _, q := range []int{p, p + 1} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q)))
			if err != nil {
				t.Fatalf("port %d of the run is not free: %v", q, err)
			}
			l.Close()
		}
	}
}
