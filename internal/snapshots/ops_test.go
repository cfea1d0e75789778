package snapshots

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots/snapshotstest"
)

// testStore is a store and the Flink-side directory savepoints go to in it.
type testStore struct {
	*Store
	base string
}

func (ts testStore) sp(name string) string { return ts.base + "/" + name }

// fileStore opens a file:// store on a temporary directory; Flink reports its paths as
// file:/dir.
func fileStore(t *testing.T) testStore {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)
	return testStore{s, "file:" + dir}
}

// closeAtEnd closes c when the test ends, failing the test if that fails.
func closeAtEnd(t *testing.T, c io.Closer) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

var memBuckets atomic.Int32

// memStore is a mem:// bucket standing in for s3://bucket-N/prefix, as the emulator uses
// them. Each has its own bucket name: stores with the same root are the same storage.
func memStore(t *testing.T) testStore {
	t.Helper()
	b := memblob.OpenBucket(nil)
	closeAtEnd(t, b)
	n := memBuckets.Add(1)
	return testStore{
		OpenBucket(b, fmt.Sprintf("s3://bucket-%d/prefix", n)),
		fmt.Sprintf("s3a://bucket-%d/prefix", n),
	}
}

// recorded wraps a mem bucket standing in for root in a recorder.
func recorded(t *testing.T, root, base string) (testStore, *snapshotstest.Recorder) {
	t.Helper()
	inner := memblob.OpenBucket(nil)
	rec, b := snapshotstest.NewRecorder(inner)
	closeAtEnd(t, b)
	return testStore{OpenBucket(b, root), base}, rec
}

var drivers = map[string]func(*testing.T) testStore{"file": fileStore, "mem": memStore}

// savepointFiles is a savepoint's content: n state files, one in a subdirectory.
func savepointFiles(tag string, n int) map[string][]byte {
	files := map[string][]byte{"_metadata": []byte("metadata of " + tag)}
	for i := range n {
		files[fmt.Sprintf("state-%02d", i)] = bytes.Repeat([]byte(tag), i+1)
	}
	files["sub/nested"] = []byte("nested " + tag)
	return files
}

func sizeOf(files map[string][]byte) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

func write(t *testing.T, s testStore, name string, files map[string][]byte) {
	t.Helper()
	if err := s.WriteSavepoint(context.Background(), s.sp(name), files); err != nil {
		t.Fatal(err)
	}
}

// contents reads every object under the savepoint directory.
func contents(t *testing.T, s testStore, name string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	key, err := s.Key(s.sp(name))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := s.list(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, o := range objs {
		b, err := s.Bucket().ReadAll(ctx, o.key)
		if err != nil {
			t.Fatal(err)
		}
		got[o.rel] = b
	}
	return got
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestVerify(t *testing.T) {
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			write(t, s, "savepoint-10", savepointFiles("ten", 2))
			if err := s.Verify(ctx, s.sp("savepoint-10")); err != nil {
				t.Errorf("Verify of a complete savepoint: %v", err)
			}
			if err := s.Verify(ctx, s.sp("savepoint-10")+"/"); err != nil {
				t.Errorf("Verify with a trailing slash: %v", err)
			}

			// savepoint-1 does not exist, although savepoint-10 does.
			err := s.Verify(ctx, s.sp("savepoint-1"))
			if !errors.Is(err, ErrNoMetadata) || !errors.Is(err, ErrNotFound) {
				t.Errorf("Verify of a missing savepoint = %v; want ErrNoMetadata and ErrNotFound", err)
			}
			for _, sub := range []string{s.sp("savepoint-1"), s.Root(), "savepoint-1/_metadata"} {
				if err != nil && !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not mention %q", err, sub)
				}
			}

			// A directory with state files but no _metadata.
			if err := s.Bucket().WriteAll(ctx, "savepoint-2/state", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			err = s.Verify(ctx, s.sp("savepoint-2"))
			if !errors.Is(err, ErrNoMetadata) || errors.Is(err, ErrNotFound) {
				t.Errorf("Verify of a directory without _metadata = %v; want ErrNoMetadata only", err)
			}
			if err != nil && !strings.Contains(err.Error(), "incomplete") {
				t.Errorf("error %q does not say the savepoint is incomplete", err)
			}

			// _metadata in the wrong place does not count.
			if err := s.Bucket().WriteAll(ctx, "savepoint-3/sub/_metadata", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(ctx, s.sp("savepoint-3")); !errors.Is(err, ErrNoMetadata) {
				t.Errorf("Verify with only a nested _metadata = %v", err)
			}
			if err := s.Verify(ctx, s.sp("savepoint-3/sub")); err != nil {
				t.Errorf("Verify of the nested directory: %v", err)
			}

			if err := s.Verify(ctx, "s3://elsewhere/savepoint-10"); err == nil {
				t.Error("Verify outside the store succeeded")
			}
			if err := s.Verify(cancelled(), s.sp("savepoint-10")); !errors.Is(err, context.Canceled) {
				t.Errorf("Verify with a cancelled context = %v", err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			one, ten := savepointFiles("one", 3), savepointFiles("tenten", 5)
			write(t, s, "savepoint-1", one)
			write(t, s, "savepoint-10", ten)
			if got, err := s.Size(ctx, s.sp("savepoint-1")); err != nil || got != sizeOf(one) {
				t.Errorf("Size(savepoint-1) = %d, %v; want %d", got, err, sizeOf(one))
			}
			if got, err := s.Size(ctx, s.sp("savepoint-10")+"/"); err != nil || got != sizeOf(ten) {
				t.Errorf("Size(savepoint-10) = %d, %v; want %d", got, err, sizeOf(ten))
			}
			if _, err := s.Size(ctx, s.sp("savepoint-2")); !errors.Is(err, ErrNotFound) {
				t.Errorf("Size of a missing savepoint: %v", err)
			}
			if _, err := s.Size(cancelled(), s.sp("savepoint-1")); !errors.Is(err, context.Canceled) {
				t.Errorf("Size with a cancelled context = %v", err)
			}
		})
	}
}

func TestCopyAcrossStores(t *testing.T) {
	for _, pair := range [][2]string{{"file", "mem"}, {"mem", "file"}, {"file", "file"}, {"mem", "mem"}} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			ctx := context.Background()
			src, dst := drivers[pair[0]](t), drivers[pair[1]](t)
			files := savepointFiles("copy", 25)
			write(t, src, "savepoint-1", files)
			write(t, src, "savepoint-10", savepointFiles("other", 2))

			n, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("dr/savepoint-1"))
			if err != nil {
				t.Fatal(err)
			}
			if n != sizeOf(files) {
				t.Errorf("Copy returned %d bytes, want %d", n, sizeOf(files))
			}
			if err := dst.Verify(ctx, dst.sp("dr/savepoint-1")); err != nil {
				t.Error(err)
			}
			if got := contents(t, dst, "dr/savepoint-1"); !sameFiles(got, files) {
				t.Errorf("copy holds %d files, differing from the source's %d", len(got), len(files))
			}
			if size, _ := dst.Size(ctx, dst.sp("dr/savepoint-1")); size != n {
				t.Errorf("destination size %d != copied %d", size, n)
			}
			if err := dst.Verify(ctx, dst.sp("dr/savepoint-10")); !errors.Is(err, ErrNotFound) {
				t.Errorf("savepoint-10 leaked into the copy of savepoint-1: %v", err)
			}
		})
	}
}

func TestCopyWritesMetadataLast(t *testing.T) {
	ctx := context.Background()
	src := fileStore(t)
	dst, rec := recorded(t, "s3://dr-bucket/savepoints", "s3://dr-bucket/savepoints")
	write(t, src, "savepoint-1", savepointFiles("x", 30))

	if _, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); err != nil {
		t.Fatal(err)
	}
	w := rec.Written()
	if len(w) != 32 || w[len(w)-1] != "savepoint-1/_metadata" {
		t.Fatalf("writes = %v; want 32 writes, _metadata last", w)
	}
	if slices.Index(w, "savepoint-1/_metadata") != len(w)-1 {
		t.Errorf("_metadata written more than once: %v", w)
	}
}

func TestCopyInterrupted(t *testing.T) {
	src := memStore(t)
	files := savepointFiles("x", 30)
	write(t, src, "savepoint-1", files)

	t.Run("cancelled context", func(t *testing.T) {
		dst, rec := recorded(t, "file:///dr", "file:/dr")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		rec.OnCommit(func(string) { once.Do(cancel) }) // cancel once the first file is in
		_, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Copy = %v; want context.Canceled", err)
		}
		if slices.Contains(rec.Written(), "savepoint-1/_metadata") {
			t.Fatalf("an interrupted copy wrote _metadata: %v", rec.Written())
		}
		if err := dst.Verify(context.Background(), dst.sp("savepoint-1")); !errors.Is(err, ErrNoMetadata) || errors.Is(err, ErrNotFound) {
			t.Errorf("Verify after an interrupted copy = %v; want an incomplete savepoint", err)
		}

		// Running it again completes it.
		rec.OnCommit(nil)
		if _, err := src.Copy(context.Background(), src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); err != nil {
			t.Fatal(err)
		}
		if got := contents(t, dst, "savepoint-1"); !sameFiles(got, files) {
			t.Error("the resumed copy differs from the source")
		}
		if w := rec.Written(); w[len(w)-1] != "savepoint-1/_metadata" {
			t.Errorf("the resumed copy did not write _metadata last: %v", w)
		}
	})

	t.Run("failed write", func(t *testing.T) {
		dst, rec := recorded(t, "s3://dr/x", "s3://dr/x")
		boom := errors.New("boom")
		rec.FailWrite(func(key string) error {
			if key == "savepoint-1/state-17" {
				return boom
			}
			return nil
		})
		_, err := src.Copy(context.Background(), src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1"))
		if !errors.Is(err, boom) {
			t.Fatalf("Copy = %v; want boom", err)
		}
		for _, sub := range []string{"s3://dr/x", "state-17", "AWS credentials"} {
			if !strings.Contains(err.Error(), sub) {
				t.Errorf("error %q does not mention %q", err, sub)
			}
		}
		if ok, _ := dst.Bucket().Exists(context.Background(), "savepoint-1/_metadata"); ok {
			t.Error("a failed copy wrote _metadata")
		}
		if ok, _ := dst.Bucket().Exists(context.Background(), "savepoint-1/state-17"); ok {
			t.Error("the failed write left an object")
		}
	})

	t.Run("cancelled before start", func(t *testing.T) {
		dst := memStore(t)
		if _, err := src.Copy(cancelled(), src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Copy = %v; want context.Canceled", err)
		}
		if err := dst.Verify(context.Background(), dst.sp("savepoint-1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("a copy with a cancelled context wrote something: %v", err)
		}
	})
}

func TestCopyCases(t *testing.T) {
	ctx := context.Background()

	t.Run("incomplete source", func(t *testing.T) {
		src, dst := memStore(t), fileStore(t)
		if err := src.Bucket().WriteAll(ctx, "savepoint-1/state", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		write(t, src, "savepoint-10", savepointFiles("ten", 1))
		if _, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); !errors.Is(err, ErrNoMetadata) {
			t.Errorf("Copy of an incomplete savepoint = %v", err)
		}
		if _, err := src.Copy(ctx, src.sp("savepoint-2"), dst.Store, dst.sp("savepoint-2")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Copy of a missing savepoint = %v", err)
		}
		if err := dst.Verify(ctx, dst.sp("savepoint-1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("a refused copy wrote something: %v", err)
		}
	})

	t.Run("already copied", func(t *testing.T) {
		src := memStore(t)
		dst, rec := recorded(t, "s3://dr/x", "s3://dr/x")
		files := savepointFiles("x", 3)
		write(t, src, "savepoint-1", files)
		if _, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); err != nil {
			t.Fatal(err)
		}
		before := len(rec.Written())
		n, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1"))
		if err != nil || n != sizeOf(files) {
			t.Errorf("repeated Copy = %d, %v; want %d, nil", n, err, sizeOf(files))
		}
		if len(rec.Written()) != before {
			t.Errorf("repeated Copy wrote again: %v", rec.Written()[before:])
		}
	})

	t.Run("destination holds another savepoint", func(t *testing.T) {
		src, dst := memStore(t), memStore(t)
		write(t, src, "savepoint-1", savepointFiles("x", 3))
		write(t, dst, "savepoint-1", savepointFiles("y", 3))
		if _, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); !errors.Is(err, ErrExists) {
			t.Errorf("Copy over another savepoint = %v; want ErrExists", err)
		}
		if got := contents(t, dst, "savepoint-1"); !sameFiles(got, savepointFiles("y", 3)) {
			t.Error("the destination savepoint was changed")
		}
	})

	t.Run("leftovers removed", func(t *testing.T) {
		src, dst := memStore(t), fileStore(t)
		files := savepointFiles("x", 3)
		write(t, src, "savepoint-1", files)
		if err := dst.Bucket().WriteAll(ctx, "savepoint-1/junk", []byte("old"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, dst.sp("savepoint-1")); err != nil {
			t.Fatal(err)
		}
		if got := contents(t, dst, "savepoint-1"); !sameFiles(got, files) {
			t.Errorf("copy holds %v", slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			}))
		}
	})

	t.Run("within one store", func(t *testing.T) {
		s, rec := recorded(t, "s3://bucket/sp", "s3://bucket/sp")
		files := savepointFiles("x", 10)
		write(t, s, "savepoint-1", files)
		write(t, s, "savepoint-10", savepointFiles("ten", 1))
		n, err := s.Copy(ctx, s.sp("savepoint-1"), s.Store, s.sp("promoted/savepoint-1"))
		if err != nil || n != sizeOf(files) {
			t.Fatalf("Copy = %d, %v", n, err)
		}
		if got := contents(t, s, "promoted/savepoint-1"); !sameFiles(got, files) {
			t.Error("the copy differs")
		}
		if w := rec.Written(); w[len(w)-1] != "promoted/savepoint-1/_metadata" {
			t.Errorf("_metadata not copied last: %v", w)
		}
		for _, bad := range [][2]string{
			{"savepoint-1", "savepoint-1/"},
			{"savepoint-1", "savepoint-1/inner"},
			{"promoted", "promoted/savepoint-1/x"},
		} {
			if _, err := s.Copy(ctx, s.sp(bad[0]), s.Store, s.sp(bad[1])); err == nil || !strings.Contains(err.Error(), "overlap") {
				t.Errorf("Copy %s → %s = %v; want an overlap error", bad[0], bad[1], err)
			}
		}
		// savepoint-1 → savepoint-10 is no overlap, but savepoint-10 exists.
		if _, err := s.Copy(ctx, s.sp("savepoint-1"), s.Store, s.sp("savepoint-10")); !errors.Is(err, ErrExists) {
			t.Errorf("Copy savepoint-1 → savepoint-10 = %v; want ErrExists", err)
		}
	})

	t.Run("destination outside its store", func(t *testing.T) {
		src, dst := memStore(t), fileStore(t)
		write(t, src, "savepoint-1", savepointFiles("x", 1))
		if _, err := src.Copy(ctx, src.sp("savepoint-1"), dst.Store, src.sp("savepoint-1")); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("Copy to a path outside the destination store = %v", err)
		}
	})
}

func TestDispose(t *testing.T) {
	for name, open := range drivers {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			ten := savepointFiles("ten", 3)
			write(t, s, "savepoint-1", savepointFiles("one", 3))
			write(t, s, "savepoint-10", ten)
			if err := s.Dispose(ctx, s.sp("savepoint-1")); err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(ctx, s.sp("savepoint-1")); !errors.Is(err, ErrNotFound) {
				t.Errorf("Verify after Dispose = %v; want ErrNotFound", err)
			}
			if got := contents(t, s, "savepoint-10"); !sameFiles(got, ten) {
				t.Error("disposing savepoint-1 touched savepoint-10")
			}
			if err := s.Dispose(ctx, s.sp("savepoint-1")); err != nil {
				t.Errorf("second Dispose: %v", err)
			}
			if err := s.Dispose(ctx, s.sp("never-existed")); err != nil {
				t.Errorf("Dispose of a missing savepoint: %v", err)
			}

			// An incomplete directory is disposed too.
			if err := s.Bucket().WriteAll(ctx, "savepoint-2/state", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Dispose(ctx, s.sp("savepoint-2/")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Size(ctx, s.sp("savepoint-2")); !errors.Is(err, ErrNotFound) {
				t.Errorf("incomplete savepoint not disposed: %v", err)
			}

			if err := s.Dispose(cancelled(), s.sp("savepoint-10")); !errors.Is(err, context.Canceled) {
				t.Errorf("Dispose with a cancelled context = %v", err)
			}
			if err := s.Verify(ctx, s.sp("savepoint-10")); err != nil {
				t.Errorf("a cancelled Dispose touched the savepoint: %v", err)
			}
			if err := s.Dispose(ctx, s.base); err == nil {
				t.Error("Dispose of the store root succeeded")
			}
		})
	}
}

func TestDisposeRemovesDirectories(t *testing.T) {
	s := fileStore(t)
	write(t, s, "savepoint-1", savepointFiles("one", 2))
	if err := s.Dispose(context.Background(), s.sp("savepoint-1")); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(s.base, "file:")
	if _, err := os.Stat(filepath.Join(dir, "savepoint-1")); !os.IsNotExist(err) {
		t.Errorf("savepoint directory still on disk: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("store directory gone: %v", err)
	}
}

func TestDisposeDeletesMetadataFirst(t *testing.T) {
	s, rec := recorded(t, "s3://bucket/sp", "s3://bucket/sp")
	write(t, s, "savepoint-1", savepointFiles("one", 20))
	write(t, s, "savepoint-10", savepointFiles("ten", 2))
	if err := s.Dispose(context.Background(), s.sp("savepoint-1")); err != nil {
		t.Fatal(err)
	}
	d := rec.Deleted()
	if len(d) != 22 || d[0] != "savepoint-1/_metadata" {
		t.Fatalf("deletes = %v; want 22, _metadata first", d)
	}
	for _, k := range d {
		if !strings.HasPrefix(k, "savepoint-1/") {
			t.Errorf("Dispose of savepoint-1 deleted %q", k)
		}
	}
}

func TestWriteSavepoint(t *testing.T) {
	ctx := context.Background()
	s, rec := recorded(t, "file:///tmp/sp", "file:/tmp/sp")
	if err := s.WriteSavepoint(ctx, s.sp("savepoint-1"), savepointFiles("x", 5)); err != nil {
		t.Fatal(err)
	}
	w := rec.Written()
	if len(w) != 7 || w[len(w)-1] != "savepoint-1/_metadata" {
		t.Errorf("writes = %v; want _metadata last", w)
	}
	if err := s.WriteSavepoint(ctx, s.sp("savepoint-2"), map[string][]byte{"state": []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, s.sp("savepoint-2")); err != nil {
		t.Errorf("savepoint without an explicit _metadata: %v", err)
	}
	for _, bad := range []string{"", "/abs", "../up", "a/../b", "a//b", "."} {
		if err := s.WriteSavepoint(ctx, s.sp("savepoint-3"), map[string][]byte{bad: nil}); err == nil {
			t.Errorf("file name %q accepted", bad)
		}
	}
	if err := s.WriteSavepoint(cancelled(), s.sp("savepoint-4"), map[string][]byte{"a": nil}); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteSavepoint with a cancelled context = %v", err)
	}
}

// The bucket a Store is handed is the caller's: Close leaves it open.
func TestOpenBucketCloseLeavesBucket(t *testing.T) {
	b := memblob.OpenBucket(nil)
	closeAtEnd(t, b)
	s := OpenBucket(b, "mem://")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(context.Background(), "k", []byte("v"), &blob.WriterOptions{}); err != nil {
		t.Errorf("bucket closed by Store.Close: %v", err)
	}
}
