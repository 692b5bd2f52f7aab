package pbftsim

import "container/heap"

// endpoint addresses a replica (>= 0) or a client (-1 - index).
type endpoint int

func clientEndpoint(i int) endpoint { return endpoint(-1 - i) }

func (e endpoint) client() (int, bool) { return -1 - int(e), e < 0 }

// delivery is one message in flight.
type delivery struct {
	at    uint64
	order uint64 // random tie-break: reordering within a tick
	from  endpoint
	to    endpoint
	data  []byte
}

type queue []*delivery

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].order < q[j].order
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*delivery)) }
func (q *queue) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return d
}

func (q *queue) push(d *delivery) { heap.Push(q, d) }

func (q *queue) popDue(now uint64) *delivery {
	if len(*q) == 0 || (*q)[0].at > now {
		return nil
	}
	return heap.Pop(q).(*delivery)
}
