package snapshotstest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"gocloud.dev/blob/memblob"
)

// The tests that use a Recorder trust that a failed write or delete leaves the key as it was
// and is not recorded, and that the hooks see what is recorded, in order.
func TestRecorderRecordsAndFails(t *testing.T) {
	ctx := context.Background()
	rec, b := NewRecorder(memblob.OpenBucket(nil))
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	var committed, deletedSeen []string
	rec.OnCommit(func(key string) { committed = append(committed, key) })
	rec.OnDelete(func(key string) { deletedSeen = append(deletedSeen, key) })
	boom := errors.New("boom")
	failOn := func(bad string) func(string) error {
		return func(key string) error {
			if key == bad {
				return boom
			}
			return nil
		}
	}
	rec.FailWrite(failOn("b"))
	rec.FailDelete(failOn("a"))

	for _, key := range []string{"a", "b", "c"} {
		err := b.WriteAll(ctx, key, []byte(key), nil)
		if want := key == "b"; errors.Is(err, boom) != want {
			t.Fatalf("write %s = %v; want failure %v", key, err, want)
		}
	}
	if ok, _ := b.Exists(ctx, "b"); ok {
		t.Error("a failed write left its key behind")
	}
	if err := b.Delete(ctx, "a"); !errors.Is(err, boom) {
		t.Errorf("delete a = %v; want boom", err)
	}
	if ok, _ := b.Exists(ctx, "a"); !ok {
		t.Error("a failed delete removed its key")
	}
	if err := b.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}

	if w := rec.Written(); !slices.Equal(w, []string{"a", "c"}) || !slices.Equal(committed, w) {
		t.Errorf("written %v, commits seen %v; want [a c] both", w, committed)
	}
	if d := rec.Deleted(); !slices.Equal(d, []string{"c"}) || !slices.Equal(deletedSeen, d) {
		t.Errorf("deleted %v, deletes seen %v; want [c] both", d, deletedSeen)
	}
}
