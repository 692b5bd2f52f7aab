package meter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestStorePersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "meter.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	a := m.Buyer("alice")
	a.AddUp(1 << 40)
	a.AddDown(12345)
	if !a.TryOpen(0) {
		t.Fatal("TryOpen without limit refused")
	}
	if err := st.Save(m); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}

	st, err = OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	restored := New()
	if err := st.Load(restored); err != nil {
		t.Fatal(err)
	}
	got := restored.Buyer("alice").Usage()
	want := Usage{ID: "alice", BytesUp: 1 << 40, BytesDown: 12345, TotalConns: 1}
	if got != want {
		t.Fatalf("restored %+v, want %+v (active connections are not persisted)", got, want)
	}
}

func TestRunSavesOnCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meter.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := New()
	m.Buyer("carol").AddDown(99)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Run(ctx, m, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	back := New()
	if err := st.Load(back); err != nil {
		t.Fatal(err)
	}
	if got := back.Buyer("carol").Usage().BytesDown; got != 99 {
		t.Fatalf("bytes down after Run = %d, want 99", got)
	}
}

func TestCorruptRecordIsAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meter.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(usageBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte("mallory"), []byte{1, 2, 3})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Load(New())
	if err == nil || !strings.Contains(err.Error(), `"mallory"`) {
		t.Fatalf("Load of a corrupt record: %v, want an error naming the buyer", err)
	}
}

func TestNotABoltFileIsAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meter.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("garbage!", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStore(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenStore of garbage: %v, want an error naming the file", err)
	}
}
