package runtime

import (
	"sync"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/consensus/runtime/transport"
)

// routeBook remembers, per replica, the client ids of unsigned requests
// this client sent it and on which of its link's connections: a replica
// routes the replies to an unsigned request to the client stream it last
// received one of that id on, so while that connection lasts the id's next
// requests need only go to the primary (pbft.Client.SubmitUnsigned). A
// backup then hears them in the pre-prepare, and everyone hears a
// retransmission, as for signed requests: the client's upload is one copy
// of each request instead of one per replica. Should a route be lost all
// the same (the replica restarted, or another connection of the same
// account took it over), the backups' replies go elsewhere and the
// client's retransmission to every replica claims the route back.
type routeBook struct {
	mu   sync.Mutex
	sent []map[pbft.ClientID]uint64 // by replica: id → the link connection it went out on
}

func newRouteBook(replicas int) *routeBook {
	b := &routeBook{sent: make([]map[pbft.ClientID]uint64, replicas)}
	for i := range b.sent {
		b.sent[i] = map[pbft.ClientID]uint64{}
	}
	return b
}

// known says, by replica, whether a request of id went to it on its link's
// current connection. It says no for every replica while the link to the
// believed primary has no connection: that primary may be down, and the
// backups' timers then start at once, not a retransmission later.
func (b *routeBook) known(id pbft.ClientID, links []*transport.Link, primary uint32) []bool {
	if int(primary) < len(links) && links[primary].Connection() == 0 {
		return nil
	}
	known := make([]bool, len(links))
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, l := range links {
		conn := l.Connection()
		known[i] = conn != 0 && b.sent[i][id] == conn
	}
	return known
}

// record notes that a request of id was queued on the link to replica,
// whose current connection is conn (0: none, nothing is noted). Past
// transport.MaxRoutes ids the replica may not route more, so the book
// starts over and the ids' next requests go to every replica again.
func (b *routeBook) record(id pbft.ClientID, replica int, conn uint64) {
	if conn == 0 || replica >= len(b.sent) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sent[replica]) >= transport.MaxRoutes {
		clear(b.sent[replica])
	}
	b.sent[replica][id] = conn
}
