package pbft

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// FuzzDecodeMessage checks that the decoder of every message kind rejects
// bad input with an error, never a panic, and that whatever it accepts
// re-encodes to exactly the same bytes (one encoding per message).
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(Encode(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(Encode(m), b) {
			t.Fatalf("%v re-encodes differently", m.Kind())
		}
	})
}

// FuzzStepMessage feeds decoded input to a replica and a client: whatever
// arrives, they must not panic.
func FuzzStepMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(Encode(m))
	}
	var pubs []ed25519.PublicKey
	for i := range 4 {
		pubs = append(pubs, testKey("replica", i).Public().(ed25519.PublicKey))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		n, err := New(Config{Domain: testDomain, ID: 0, Key: testKey("replica", 0), Replicas: pubs, App: &counterApp{},
			CheckpointInterval: 4, Verify: func(ed25519.PublicKey, []byte, []byte) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		_ = n.Step(m)
		n.Tick()
		_ = n.Ready()
		n.Advance()
		c, err := NewClient(ClientConfig{Domain: testDomain, Key: testKey("client", 0), Replicas: pubs}, 42)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = c.Submit([]byte("x"))
		_, _ = c.Step(m)
	})
}
