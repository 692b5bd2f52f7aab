package vicc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
)

// fakeVPCD is the reader side of the vpcd protocol over an in-memory pipe.
type fakeVPCD struct {
	t    *testing.T
	conn net.Conn
}

func (f fakeVPCD) send(payload ...byte) {
	f.t.Helper()
	msg := binary.BigEndian.AppendUint16(nil, uint16(len(payload)))
	if _, err := f.conn.Write(append(msg, payload...)); err != nil {
		f.t.Fatalf("send % X: %v", payload, err)
	}
}

func (f fakeVPCD) recv() ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(f.conn, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(f.conn, b)
	return b, err
}

func serve(t *testing.T, cfg Config) (fakeVPCD, <-chan error) {
	t.Helper()
	reader, card := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, card, New(cfg)) }()
	t.Cleanup(func() { cancel(); reader.Close() })
	return fakeVPCD{t: t, conn: reader}, done
}

func TestServeProtocol(t *testing.T) {
	f, _ := serve(t, Config{Kind: USIM, T1: true, ICCID: []byte{0x98, 0x94}, IMSI: []byte{0x08}})
	f.send(ctrlOn) // no answer
	f.send(ctrlATR)
	atr, err := f.recv()
	if err != nil || !bytes.Equal(atr, []byte{0x3B, 0x80, 0x80, 0x01, 0x01}) {
		t.Fatalf("ATR % X, %v", atr, err)
	}
	f.send(0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00)
	if rsp, err := f.recv(); err != nil || !bytes.Equal(rsp, []byte{0x90, 0x00}) {
		t.Fatalf("SELECT MF: % X, %v", rsp, err)
	}
	f.send(0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2)
	f.recv()
	f.send(0x00, 0xB0, 0x00, 0x00, 0x02)
	if rsp, err := f.recv(); err != nil || !bytes.Equal(rsp, []byte{0x98, 0x94, 0x90, 0x00}) {
		t.Fatalf("READ BINARY EF_ICCID: % X, %v", rsp, err)
	}
	f.send(0x80, 0xCA, 0x00, 0x00, 0x00)
	if rsp, _ := f.recv(); !bytes.Equal(rsp, []byte{0x6E, 0x00}) {
		t.Fatalf("CLA 80: % X", rsp)
	}
}

func TestServeRemoval(t *testing.T) {
	f, done := serve(t, Config{Kind: SIM2G, ICCID: []byte{0x98}, IMSI: []byte{0x08}, Faults: Faults{RemoveAfter: 1}})
	f.send(0xA0, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00)
	if rsp, err := f.recv(); err != nil || rsp[0] != 0x9F {
		t.Fatalf("2G SELECT MF: % X, %v", rsp, err)
	}
	f.send(0xA0, 0xC0, 0x00, 0x00, 0x0F)
	if _, err := f.recv(); err == nil {
		t.Fatal("answer after removal")
	}
	if err := <-done; !errors.Is(err, ErrRemoved) {
		t.Fatalf("Serve = %v, want ErrRemoved", err)
	}
}

func TestT0Semantics(t *testing.T) {
	c := New(Config{Kind: USIM, ICCID: []byte{0x98, 0x94, 0x20}, IMSI: []byte{0x08}})
	if rsp := c.Process([]byte{0x00, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0xE2}); rsp[0] != 0x61 {
		t.Fatalf("T=0 SELECT: % X, want 61xx", rsp)
	}
	if rsp := c.Process([]byte{0x00, 0xB0, 0x00, 0x00, 0x00}); !bytes.Equal(rsp, []byte{0x6C, 0x03}) {
		t.Fatalf("T=0 READ BINARY Le=256 of 3 bytes: % X, want 6C03", rsp)
	}
	if rsp := c.Process([]byte{0x00, 0xA4, 0x00, 0x04, 0x02, 0x6F, 0x07}); !bytes.Equal(rsp, []byte{0x6A, 0x82}) {
		t.Fatalf("EF_IMSI outside DF_GSM/ADF: % X, want 6A82", rsp)
	}
}
