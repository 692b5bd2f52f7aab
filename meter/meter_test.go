package meter

import (
	"context"
	"sync"
	"testing"
)

func TestTryOpenEnforcesLimitUnderContention(t *testing.T) {
	m := New()
	b := m.Buyer("alice")
	const limit, tries = 5, 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.TryOpen(limit) {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != limit {
		t.Fatalf("granted %d connections, want exactly %d", granted, limit)
	}
	u := b.Usage()
	if u.ActiveConns != limit || u.TotalConns != limit {
		t.Fatalf("usage %+v, want %d active and total", u, limit)
	}
	b.Close()
	if !b.TryOpen(limit) {
		t.Fatal("a slot freed by Close was not reusable")
	}
}

func TestCountersAndSnapshotOrder(t *testing.T) {
	m := New()
	m.Buyer("bob").AddUp(10)
	m.Buyer("alice").AddDown(7)
	m.Buyer("alice").AddUp(-3) // ignored: never negative
	if first, again := m.Buyer("alice"), m.Buyer("alice"); first != again {
		t.Fatal("Buyer returned two different counters for one id")
	}
	got := m.Snapshot()
	if len(got) != 2 || got[0].ID != "alice" || got[1].ID != "bob" {
		t.Fatalf("snapshot %+v not sorted by id", got)
	}
	if got[0].BytesDown != 7 || got[0].BytesUp != 0 || got[1].BytesUp != 10 {
		t.Fatalf("snapshot %+v has wrong counts", got)
	}
}

func TestAllowAllGrantsInFullUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n, err := AllowAll{}.Acquire(ctx, nil, 4096)
	if err != nil || n != 4096 {
		t.Fatalf("Acquire = %d, %v; want 4096, nil", n, err)
	}
	cancel()
	if _, err := (AllowAll{}).Acquire(ctx, nil, 1); err == nil {
		t.Fatal("Acquire on a cancelled context succeeded")
	}
}
