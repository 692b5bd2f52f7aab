package pbft

import "testing"

// TestCommitCertificateRidesOnTheNextSave: a batch's commit certificate is
// not saved on its own (nothing sent depends on it); it is written with
// the next save something else needs, here the next batch's prepared
// certificate, so a batch costs each replica one save.
func TestCommitCertificateRidesOnTheNextSave(t *testing.T) {
	c := newCluster(t, 4)
	c.submit("a", nil)
	for i, s := range c.stores {
		e, ok := s.entries[1]
		if !ok || e.Prepared == nil {
			t.Fatalf("replica %d: batch 1's prepared certificate was not saved", i)
		}
		if e.CommitPP != nil {
			t.Fatalf("replica %d: batch 1's commit certificate was saved on its own", i)
		}
		if c.nodes[i].LastExecuted() != 1 {
			t.Fatalf("replica %d executed %d, want 1", i, c.nodes[i].LastExecuted())
		}
	}
	c.submit("b", nil)
	for i, s := range c.stores {
		if e := s.entries[1]; e.CommitPP == nil || len(e.Commits) < 3 {
			t.Fatalf("replica %d: batch 1's commit certificate did not go with batch 2's save", i)
		}
		if e := s.entries[2]; e.Prepared == nil || e.CommitPP != nil {
			t.Fatalf("replica %d: batch 2 saved as %+v, want prepared and not yet committed", i, e)
		}
	}
}
