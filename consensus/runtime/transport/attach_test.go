package transport

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/x402/x402/consensus/pbft"
)

// testDomain is the shard the attach tests sign in.
var testDomain = pbft.Domain{ChainID: "x402-test", Shard: 3}

func clientID(k ed25519.PrivateKey) pbft.ClientID {
	var id pbft.ClientID
	copy(id[:], pub(k))
	return id
}

// TestAttachFrame: an attach frame names its identities for one shard,
// one replica and one connection only, and a bad signature refuses the
// whole frame.
func TestAttachFrame(t *testing.T) {
	replica, conn, other := key(t), key(t), key(t)
	ids := []ed25519.PrivateKey{key(t), key(t), key(t)}
	b, err := encodeAttach(testDomain, ids, pub(replica), pub(conn))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAttach(testDomain, b, pub(replica), pub(conn))
	if err != nil || len(got) != len(ids) {
		t.Fatalf("decode: %v, %v", got, err)
	}
	for i, k := range ids {
		if got[i] != clientID(k) {
			t.Fatalf("identity %d: %x", i, got[i][:4])
		}
	}
	for _, d := range []pbft.Domain{{ChainID: testDomain.ChainID, Shard: testDomain.Shard + 1}, {ChainID: "another-chain", Shard: testDomain.Shard}} {
		if _, err := decodeAttach(d, b, pub(replica), pub(conn)); !errors.Is(err, ErrAttach) {
			t.Fatalf("replayed to shard %+v: %v", d, err)
		}
	}
	if _, err := decodeAttach(testDomain, b, pub(replica), pub(other)); !errors.Is(err, ErrAttach) {
		t.Fatalf("replayed on another connection: %v", err)
	}
	if _, err := decodeAttach(testDomain, b, pub(other), pub(conn)); !errors.Is(err, ErrAttach) {
		t.Fatalf("replayed to another replica: %v", err)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(append([]byte{}, b...), 0), {2, 0, 0, 0, 1}, {1, 0, 0, 0, 0}} {
		if _, err := decodeAttach(testDomain, bad, pub(replica), pub(conn)); !errors.Is(err, ErrAttach) {
			t.Fatalf("malformed frame %x accepted: %v", bad, err)
		}
	}
	if _, err := encodeAttach(testDomain, nil, pub(replica), pub(conn)); !errors.Is(err, ErrAttach) {
		t.Fatalf("no identities: %v", err)
	}
}

// TestClientStream: one connection carries the requests of every attached
// identity and only theirs, and replies to each come back on it.
func TestClientStream(t *testing.T) {
	sk, ck := key(t), key(t)
	sep, err := ListenEndpoint("127.0.0.1:0", sk, Impairment{})
	if err != nil {
		t.Fatal(err)
	}
	defer sep.Close()
	got := make(chan delivery, 16)
	srv, err := sep.Serve(ServerConfig{Key: sk, Replicas: []ed25519.PublicKey{pub(sk)}, Domain: testDomain,
		OnMessage: func(p Peer, m pbft.Message) {
			select {
			case got <- delivery{p, m}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cep, err := ListenEndpoint("127.0.0.1:0", ck, Impairment{})
	if err != nil {
		t.Fatal(err)
	}
	defer cep.Close()
	ids := []ed25519.PrivateKey{key(t), key(t)}
	replies := make(chan pbft.Message, 4)
	link, err := cep.NewLink(LinkConfig{Addr: sep.Addr().String(), Peer: pub(sk), Key: ck, Attach: ids, Domain: testDomain,
		OnMessage: func(m pbft.Message) { replies <- m }})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	waitFor(t, "the client stream to connect", link.Connected)

	link.Send(pbft.Encode(&pbft.Request{Client: clientID(key(t)), Timestamp: 1, Sig: pbft.Signature{1}})) // not attached
	link.Send(pbft.Encode(&pbft.Request{Client: clientID(ck), Timestamp: 1, Sig: pbft.Signature{1}}))     // the connection's own key, not attached either
	for _, k := range ids {
		link.Send(pbft.Encode(&pbft.Request{Client: clientID(k), Timestamp: 1, Sig: pbft.Signature{1}}))
	}
	for _, k := range ids {
		d := recv(t, got)
		if q, ok := d.m.(*pbft.Request); !ok || q.Client != clientID(k) || d.from.IsReplica() {
			t.Fatalf("delivered %+v", d)
		}
	}
	waitFor(t, "the foreign requests to be rejected", func() bool { return srv.Metrics().Rejected == 2 })
	for i, k := range ids {
		waitFor(t, "the reply route", func() bool {
			return srv.SendClient(clientID(k), pbft.Encode(&pbft.Reply{Client: clientID(k), Timestamp: uint64(i)}))
		})
		if r, ok := recv(t, replies).(*pbft.Reply); !ok || r.Client != clientID(k) {
			t.Fatalf("reply %+v", r)
		}
	}

	// An unsigned request of any client id is delivered (the application
	// authenticates it), and replies to that id then go to this stream;
	// before it, they had nowhere to go.
	account := clientID(key(t))
	if srv.SendClient(account, pbft.Encode(&pbft.Reply{Client: account, Timestamp: 9})) {
		t.Fatal("a reply to an unknown client was queued")
	}
	link.Send(pbft.Encode(pbft.UnsignedRequest(account, 9, []byte("tx"))))
	if d := recv(t, got); d.m.(*pbft.Request).Client != account || !d.m.(*pbft.Request).Unsigned() {
		t.Fatalf("delivered %+v", d)
	}
	if !srv.SendClient(account, pbft.Encode(&pbft.Reply{Client: account, Timestamp: 9})) {
		t.Fatal("reply to an unsigned request's client not routed")
	}
	if r, ok := recv(t, replies).(*pbft.Reply); !ok || r.Client != account || r.Timestamp != 9 {
		t.Fatalf("reply %+v", r)
	}
	link.Close()
	waitFor(t, "the route to go with its stream", func() bool {
		return !srv.SendClient(account, pbft.Encode(&pbft.Reply{Client: account, Timestamp: 9}))
	})
}

// FuzzDecodeAttach: no input makes the attach decoder panic, and what it
// accepts names at least one identity.
func FuzzDecodeAttach(f *testing.F) {
	replica := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	conn := ed25519.NewKeyFromSeed(append(make([]byte, ed25519.SeedSize-1), 1))
	ok, err := encodeAttach(testDomain, []ed25519.PrivateKey{conn}, pub(replica), pub(conn))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ok)
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := decodeAttach(testDomain, b, pub(replica), pub(conn))
		if err == nil && len(ids) == 0 {
			t.Fatal("accepted a frame without identities")
		}
	})
}
