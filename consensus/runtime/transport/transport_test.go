package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/goleak"
	"golang.org/x/net/ipv4"

	"github.com/x402/x402/consensus/pbft"
	"github.com/x402/x402/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func key(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, cond)
}

type delivery struct {
	from Peer
	m    pbft.Message
}

// TestServerAdmission: a replica accepts any message but a reply from a
// replica, only its own requests from a client, and counts and drops bad
// frames; replies go out on the client's own connection.
func TestServerAdmission(t *testing.T) {
	sk, rk, ck := key(t), key(t), key(t)
	sep, err := ListenEndpoint("127.0.0.1:0", sk, Impairment{})
	if err != nil {
		t.Fatal(err)
	}
	defer sep.Close()
	got := make(chan delivery, 16)
	srv, err := sep.Serve(ServerConfig{Key: sk, Replicas: []ed25519.PublicKey{pub(sk), pub(rk)},
		OnMessage: func(p Peer, m pbft.Message) {
			select { // never block the server on a slow test
			case got <- delivery{p, m}:
			default:
			}
		}, MaxClientFrame: 1024,
		Status: func() []byte { return []byte("status") }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := sep.Addr().String()

	cep, err := ListenEndpoint("127.0.0.1:0", ck, Impairment{})
	if err != nil {
		t.Fatal(err)
	}
	defer cep.Close()
	replies := make(chan pbft.Message, 4)
	client, err := cep.NewLink(LinkConfig{Addr: addr, Peer: pub(sk), Key: ck, OnMessage: func(m pbft.Message) { replies <- m }})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	replica, err := cep.NewLink(LinkConfig{Addr: addr, Peer: pub(sk), Key: rk})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()

	var cid pbft.ClientID
	copy(cid[:], pub(ck))
	own := &pbft.Request{Client: cid, Timestamp: 1, Op: []byte("x"), Sig: pbft.Signature{1}}
	forged := &pbft.Request{Client: pbft.ClientID{1}, Timestamp: 1, Op: []byte("x"), Sig: pbft.Signature{1}}
	client.Send([]byte{0xff, 1, 2})                     // garbage
	client.Send(pbft.Encode(forged))                    // another client's request
	client.Send(pbft.Encode(&pbft.Prepare{Replica: 1})) // a client posing as a replica
	client.Send(pbft.Encode(own))                       // fine
	replica.Send(pbft.Encode(&pbft.Reply{Replica: 1}))  // replicas send no replies
	replica.Send(pbft.Encode(&pbft.Prepare{View: 2}))   // fine
	for range 2 {
		switch d := recv(t, got); d.m.Kind() {
		case pbft.KindRequest:
			if d.from.IsReplica() || d.from.Client != cid {
				t.Fatalf("client delivery from %+v", d.from)
			}
		case pbft.KindPrepare:
			if d.from.Replica != 1 || d.m.(*pbft.Prepare).View != 2 {
				t.Fatalf("replica delivery %+v", d)
			}
		default:
			t.Fatalf("delivered %v", d.m.Kind())
		}
	}
	waitFor(t, "drops to be counted", func() bool {
		m := srv.Metrics()
		return m.BadFrames == 1 && m.Rejected == 3
	})

	if !srv.SendClient(cid, pbft.Encode(&pbft.Reply{Client: cid, Timestamp: 1, Result: []byte("ok")})) {
		t.Fatal("reply to a connected client not queued")
	}
	if r, ok := recv(t, replies).(*pbft.Reply); !ok || string(r.Result) != "ok" {
		t.Fatalf("reply %+v", r)
	}
	if srv.SendClient(pbft.ClientID{9}, []byte{1}) {
		t.Fatal("reply to an unknown client queued")
	}

	// An oversized client frame ends that stream; the link reconnects.
	client.Send(make([]byte, 2048))
	waitFor(t, "the oversized frame to be counted", func() bool { return srv.Metrics().BadFrames == 2 })
	// A frame sent while the link redials may be dropped (the protocol
	// retransmits); keep sending until one arrives.
	var d delivery
	testenv.Eventually(t, "a request after the reconnect", func() bool {
		client.Send(pbft.Encode(&pbft.Request{Client: cid, Timestamp: 2}))
		select {
		case d = <-got:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	if r, ok := d.m.(*pbft.Request); !ok || r.Timestamp != 2 {
		t.Fatalf("after reconnect: %+v", d)
	}

	st, err := cep.QueryStatus(t.Context(), addr, pub(sk), key(t))
	if err != nil || string(st) != "status" {
		t.Fatalf("status %q, %v", st, err)
	}
	if _, err := cep.QueryStatus(t.Context(), addr, pub(rk), key(t)); err == nil {
		t.Fatal("status from a server presenting an unexpected key")
	}
}

func TestLossyDelaysAndDrops(t *testing.T) {
	recv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send := func(im Impairment, n int) (int, time.Duration) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l := NewLossy(pc, im)
		defer l.Close()
		start := time.Now()
		for i := range n {
			if _, err := l.WriteTo([]byte{byte(i)}, recv.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		var first time.Duration
		buf := make([]byte, 16)
		for {
			_ = recv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, _, err := recv.ReadFrom(buf); err != nil {
				break
			}
			if got == 0 {
				first = time.Since(start)
			}
			got++
		}
		return got, first
	}
	if got, first := send(Impairment{Delay: 40 * time.Millisecond}, 20); got != 20 || first < 40*time.Millisecond {
		t.Fatalf("delayed link: %d datagrams, first after %v", got, first)
	}
	if got, _ := send(Impairment{Loss: 1}, 20); got != 0 {
		t.Fatalf("a link losing everything delivered %d", got)
	}
	if got, _ := send(Impairment{Loss: 0.5, Seed: 3}, 400); got < 120 || got > 280 {
		t.Fatalf("a link losing half delivered %d of 400", got)
	}
}

// recv receives from ch, failing the test after 10 seconds rather than
// hanging the run.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a delivery")
		panic("unreachable")
	}
}

// replicaLink connects a replica's link to another replica's server, both
// endpoints impaired by im, and returns the server's endpoint, the link and
// what the server delivers; all are closed when the test ends.
func replicaLink(t *testing.T, im Impairment) (*Endpoint, *Link, <-chan pbft.Message) {
	t.Helper()
	sk, rk := key(t), key(t)
	sep, err := ListenEndpoint("127.0.0.1:0", sk, im)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sep.Close)
	got := make(chan pbft.Message, 16)
	srv, err := sep.Serve(ServerConfig{Key: sk, Replicas: []ed25519.PublicKey{pub(sk), pub(rk)},
		OnMessage: func(_ Peer, m pbft.Message) { got <- m }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	rep, err := ListenEndpoint("127.0.0.1:0", rk, im)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Close)
	link, err := rep.NewLink(LinkConfig{Addr: sep.Addr().String(), Peer: pub(sk), Key: rk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)
	waitFor(t, "the link to connect", link.Connected)
	return sep, link, got
}

// TestStreamDeliversFramesOfEverySize: a stream's reader reads every
// frame into one reused buffer; small, big (beyond the buffer it keeps)
// and small again, every message arrives whole and in order.
func TestStreamDeliversFramesOfEverySize(t *testing.T) {
	_, link, got := replicaLink(t, Impairment{})

	request := func(ts uint64, size int) *pbft.Request {
		return &pbft.Request{Client: pbft.ClientID{byte(ts)}, Timestamp: ts, Op: bytes.Repeat([]byte{byte(ts)}, size)}
	}
	big := &pbft.PrePrepare{Seq: 1, Replica: 1}
	for i := range 3 {
		big.Batch = append(big.Batch, request(uint64(10+i), 60<<10))
	}
	sent := []pbft.Message{request(1, 5000), request(2, 3), big, request(3, 200), big, request(4, 0)}
	for _, m := range sent {
		if !link.Send(pbft.Encode(m)) {
			t.Fatal("link queue full")
		}
	}
	for i, m := range sent {
		if d := recv(t, got); !bytes.Equal(pbft.Encode(d), pbft.Encode(m)) {
			t.Fatalf("message %d (%v) arrived changed", i, m.Kind())
		}
	}
}

// TestDelayLineKeepsQuicsFastPath: a UDP socket that only delays is offered
// to quic-go as one it can batch reads and segment writes on; what quic-go
// writes through it is still delayed. A socket that also drops is not.
func TestDelayLineKeepsQuicsFastPath(t *testing.T) {
	const delay = 30 * time.Millisecond
	sep, link, got := replicaLink(t, Impairment{Delay: delay})
	if _, ok := sep.pc.(quic.OOBCapablePacketConn); !ok {
		t.Fatalf("a delaying UDP socket is a %T, not a quic.OOBCapablePacketConn", sep.pc)
	}
	if _, ok := sep.pc.(interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}); !ok {
		t.Fatalf("a delaying UDP socket (%T) reads no batches", sep.pc)
	}
	lossy, err := ListenEndpoint("127.0.0.1:0", key(t), Impairment{Delay: delay, Loss: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	lossy.Close()
	if _, ok := lossy.pc.(quic.OOBCapablePacketConn); ok {
		t.Fatal("a socket that drops datagrams takes quic-go's segmented writes")
	}

	start := time.Now()
	link.Send(pbft.Encode(&pbft.Prepare{View: 3, Replica: 1}))
	if m := recv(t, got); m.(*pbft.Prepare).View != 3 {
		t.Fatalf("delivered %+v", m)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("a message crossed a %v link in %v", delay, took)
	}
}
