package storage

import (
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

// TestEntryStoresABatchOnce: an entry whose prepared and committed
// pre-prepares are its accepted one stores the batch once and decodes to
// the same entry; version 1 entries still decode.
func TestEntryStoresABatchOnce(t *testing.T) {
	e := sampleEntry(6) // prepared and committed, all with the same pre-prepare
	full := encodeEntryV1(&e)
	b := encodeEntry(&e)
	pp := len(pbft.Encode(e.PrePrepare))
	if len(b) > len(full)-2*pp {
		t.Fatalf("entry of %d bytes, want at most %d (the batch once)", len(b), len(full)-2*pp)
	}
	for name, enc := range map[string][]byte{"v2": b, "v1": full} {
		got, err := decodeEntry(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%s: decoded %+v, want %+v", name, got, e)
		}
	}
	// A commit by another pre-prepare than the accepted one is stored in full.
	other := *e.PrePrepare
	other.View = 2
	e.CommitPP = &other
	got, err := decodeEntry(encodeEntry(&e))
	if err != nil || got.CommitPP.View != 2 || got.PrePrepare.View != 1 {
		t.Fatalf("distinct commit pre-prepare: %+v, %v", got, err)
	}
	// Flags that refer to what is absent are corrupt.
	for _, flags := range []uint8{samePrepared | hasPrepared, sameCommitted | hasCommitted, hasPrePrepare | hasPrepared | hasCommitted | sameCommitted | committedPrepared} {
		w := &writer{}
		w.u8(entryVersion)
		w.u64(6)
		w.u8(flags)
		if _, err := decodeEntry(w.b); err == nil {
			t.Fatalf("flags %#x accepted", flags)
		}
	}
}
