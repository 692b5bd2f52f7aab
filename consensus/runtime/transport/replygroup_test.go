package transport

import (
	"crypto/ed25519"
	"testing"

	"github.com/x402/x402/consensus/pbft"
)

// TestReplyGroupReachesEveryConnection: the replies one signature covers
// go out as one group per client connection, each identity's reply comes
// back on its own connection, and a reply to a client that is not
// connected is counted as dropped.
func TestReplyGroupReachesEveryConnection(t *testing.T) {
	sk := key(t)
	sep, err := ListenEndpoint("127.0.0.1:0", sk, Impairment{})
	if err != nil {
		t.Fatal(err)
	}
	defer sep.Close()
	srv, err := sep.Serve(ServerConfig{Key: sk, Replicas: []ed25519.PublicKey{pub(sk)}, Domain: testDomain,
		OnMessage: func(Peer, pbft.Message) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	type conn struct {
		ids     []ed25519.PrivateKey
		replies chan pbft.Message
	}
	conns := []conn{{ids: []ed25519.PrivateKey{key(t), key(t)}}, {ids: []ed25519.PrivateKey{key(t)}}}
	for i := range conns {
		ck := key(t)
		cep, err := ListenEndpoint("127.0.0.1:0", ck, Impairment{})
		if err != nil {
			t.Fatal(err)
		}
		defer cep.Close()
		ch := make(chan pbft.Message, 8)
		conns[i].replies = ch
		link, err := cep.NewLink(LinkConfig{Addr: sep.Addr().String(), Peer: pub(sk), Key: ck, Attach: conns[i].ids, Domain: testDomain,
			OnMessage: func(m pbft.Message) { ch <- m }})
		if err != nil {
			t.Fatal(err)
		}
		defer link.Close()
		waitFor(t, "the client stream to connect", link.Connected)
	}

	// One batch's replies: the clients interleaved, one not connected. The
	// proof hashes are arbitrary: the group carries what the tree needs.
	to := []pbft.ClientID{clientID(conns[0].ids[0]), clientID(conns[1].ids[0]), clientID(key(t)), clientID(conns[0].ids[1])}
	replies := make([]*pbft.Reply, len(to))
	for i, c := range to {
		replies[i] = &pbft.Reply{View: 2, Replica: 0, Client: c, Timestamp: uint64(10 + i), Result: []byte{byte(i)}, Index: uint32(i),
			Proof: []pbft.Digest{{byte(i)}, {byte(i), 1}}, Sig: pbft.Signature{7}}
	}
	waitFor(t, "every identity's route", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.clients) == 3
	})
	if dropped := srv.SendReplyGroup(replies); dropped != 1 {
		t.Fatalf("%d replies dropped, want the one to the client not connected", dropped)
	}
	want := map[int][]int{0: {0, 3}, 1: {1}}
	for c, idx := range want {
		for _, i := range idx {
			r, ok := recv(t, conns[c].replies).(*pbft.Reply)
			if !ok || r.Client != to[i] || r.Timestamp != uint64(10+i) || r.Index != uint32(i) || r.Sig != replies[i].Sig {
				t.Fatalf("connection %d: got %+v, want the reply to client %d", c, r, i)
			}
		}
	}
	if got := srv.Metrics().DroppedReplies; got != 1 {
		t.Fatalf("%d dropped replies counted, want 1", got)
	}
	if _, err := pbft.EncodeReplyGroup([]*pbft.Reply{replies[1], replies[0]}); err == nil {
		t.Fatal("replies out of order encoded as a group")
	}
	if dropped := srv.SendReplyGroup([]*pbft.Reply{replies[3], replies[0]}); dropped != 2 {
		t.Fatalf("%d of 2 replies out of order dropped", dropped)
	}
}
