package runtime

import "github.com/x402/x402/consensus/pbft"

// maxAuthBatch bounds the unsigned requests authenticated together.
const maxAuthBatch = 256

// authQueue bounds the unsigned requests waiting to be authenticated; a
// full queue holds back the transport's readers, as the inbound queue does.
const authQueue = 4096

// authenticateRequests is the stage unsigned requests go through on their
// way to the event loop when the application authenticates many at once
// (pbft.BatchAuthenticator): it takes every request that is waiting, up to
// maxAuthBatch, has the application check them together (warming its
// cache, so the core's own check of each is a lookup), and passes them on
// in the order they came. An idle replica checks each request alone, as
// soon as it comes; under load, requests pile up while a batch is being
// checked and the next batch is bigger, and so cheaper per signature.
func (r *Replica) authenticateRequests() {
	defer close(r.authDone)
	batch := make([]*pbft.Request, 0, maxAuthBatch)
	for {
		select {
		case q := <-r.authq:
			batch = append(batch[:0], q)
		case <-r.ctx.Done():
			return
		}
	more:
		for len(batch) < maxAuthBatch {
			select {
			case q := <-r.authq:
				batch = append(batch, q)
			default:
				break more
			}
		}
		r.verify.checkBatch(batch)
		for _, q := range batch {
			select {
			case r.inbound <- q:
			case <-r.ctx.Done():
				return
			}
		}
	}
}
