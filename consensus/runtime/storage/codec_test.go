package storage

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/x402/x402/consensus/pbft"
)

// encodeEntryV1 is the version 1 encoding: every pre-prepare in full.
func encodeEntryV1(e *pbft.Entry) []byte {
	w := &writer{}
	w.u8(1)
	w.u64(e.Seq)
	w.u8(hasPrePrepare | hasPrepared | hasCommitted)
	w.msg(e.PrePrepare)
	w.msg(e.Prepared.PrePrepare)
	w.u32(uint32(len(e.Prepared.Prepares)))
	for _, p := range e.Prepared.Prepares {
		w.msg(p)
	}
	w.msg(e.CommitPP)
	w.u32(uint32(len(e.Commits)))
	for _, c := range e.Commits {
		w.msg(c)
	}
	return w.b
}

// encodeEntryV2 is the version 2 encoding of an entry whose prepared and
// committed pre-prepares are its accepted one: the batch once, inline.
func encodeEntryV2(e *pbft.Entry) []byte {
	w := &writer{}
	w.u8(2)
	w.u64(e.Seq)
	w.u8(hasPrePrepare | hasPrepared | hasCommitted | samePrepared | sameCommitted)
	w.msg(e.PrePrepare)
	w.u32(uint32(len(e.Prepared.Prepares)))
	for _, p := range e.Prepared.Prepares {
		w.msg(p)
	}
	w.u32(uint32(len(e.Commits)))
	for _, c := range e.Commits {
		w.msg(c)
	}
	return w.b
}

// TestEntryCarriesNoBatch: an entry stores its pre-prepares without their
// batches (each batch has a record of its own), so saving it again as it
// gains a certificate and commits does not write the batch again; entries
// of versions 1 and 2 still decode with their batches.
func TestEntryCarriesNoBatch(t *testing.T) {
	e := sampleEntry(6) // prepared and committed, all with the same pre-prepare
	e.PrePrepare.Batch = append(e.PrePrepare.Batch, &pbft.Request{Timestamp: 9, Op: bytes.Repeat([]byte("x"), 4096)})
	b := encodeEntry(&e)
	if len(b) >= 4096 || bytes.Contains(b, e.PrePrepare.Batch[1].Op) {
		t.Fatalf("entry of %d bytes carries its batch", len(b))
	}
	got, needBatches, err := decodeEntry(b)
	if err != nil || !needBatches {
		t.Fatalf("decode: %v, needs batches %v", err, needBatches)
	}
	if len(got.PrePrepare.Batch) != 0 || got.PrePrepare != got.Prepared.PrePrepare || got.CommitPP != got.PrePrepare {
		t.Fatalf("decoded %+v: want one pre-prepare, without its batch", got)
	}
	got.PrePrepare.Batch = e.PrePrepare.Batch
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("decoded %+v, want %+v", got, e)
	}
	for name, enc := range map[string][]byte{"v1": encodeEntryV1(&e), "v2": encodeEntryV2(&e)} {
		got, needBatches, err := decodeEntry(enc)
		if err != nil || needBatches {
			t.Fatalf("%s: %v, needs batches %v", name, err, needBatches)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%s: decoded %+v, want %+v", name, got, e)
		}
	}
	// A commit by another pre-prepare than the accepted one is stored too.
	other := *e.PrePrepare
	other.View = 2
	e.CommitPP = &other
	got, _, err = decodeEntry(encodeEntry(&e))
	if err != nil || got.CommitPP.View != 2 || got.PrePrepare.View != 1 || len(prePrepares(&got)) != 2 {
		t.Fatalf("distinct commit pre-prepare: %+v, %v", got, err)
	}
	// Flags that refer to what is absent are corrupt, and so is a batch
	// inline in a version 3 entry.
	for _, flags := range []uint8{samePrepared | hasPrepared, sameCommitted | hasCommitted, hasPrePrepare | hasPrepared | hasCommitted | sameCommitted | committedPrepared} {
		w := &writer{}
		w.u8(entryVersion)
		w.u64(6)
		w.u8(flags)
		if _, _, err := decodeEntry(w.b); err == nil {
			t.Fatalf("flags %#x accepted", flags)
		}
	}
	inline := encodeEntryV2(&e)
	inline[0] = entryVersion
	if _, _, err := decodeEntry(inline); err == nil {
		t.Fatal("a version 3 entry with its batch inline accepted")
	}
}

func TestBatchRoundTrip(t *testing.T) {
	e := sampleEntry(4)
	for _, batch := range [][]*pbft.Request{nil, e.PrePrepare.Batch} {
		got, err := decodeBatch(encodeBatch(batch))
		if err != nil || !reflect.DeepEqual(got, batch) {
			t.Fatalf("batch %+v decoded as %+v, %v", batch, got, err)
		}
	}
	b := encodeBatch(e.PrePrepare.Batch)
	for name, bad := range map[string][]byte{"truncated": b[:len(b)-1], "trailing": append(bytes.Clone(b), 0),
		"too many": {0xff, 0xff, 0xff, 0xff}} {
		if _, err := decodeBatch(bad); err == nil {
			t.Fatalf("%s batch accepted", name)
		}
	}
}
