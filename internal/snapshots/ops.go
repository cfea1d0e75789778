package snapshots

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"

	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots/metadata"
)

// object is one object of a savepoint directory.
type object struct {
	key  string // bucket key
	rel  string // relative to the savepoint directory
	size int64
}

// list returns every object under the directory key dir, recursively, sorted by key.
func (s *Store) list(ctx context.Context, dir string) ([]object, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: dir + "/"})
	var objs []object
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if o.IsDir {
			continue
		}
		objs = append(objs, object{key: o.Key, rel: strings.TrimPrefix(o.Key, dir+"/"), size: o.Size})
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].key < objs[j].key })
	return objs, nil
}

// nonEmpty reports whether there is any object under the directory key dir.
func (s *Store) nonEmpty(ctx context.Context, dir string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	objs, _, err := s.bucket.ListPage(ctx, blob.FirstPageToken, 1, &blob.ListOptions{Prefix: dir + "/"})
	if err != nil {
		return false, err
	}
	return len(objs) > 0, nil
}

// noMetadata is the error for a directory without _metadata; empty says there is nothing
// under it at all.
func (s *Store) noMetadata(flinkPath, key string, empty bool) error {
	if empty {
		return &storeError{
			msg: fmt.Sprintf("no savepoint at %q in snapshot store %s: looked for %s (key %q) and found nothing under the directory; "+
				"it was never written here, was disposed, or Flink writes somewhere else", flinkPath, s.Root(), MetadataFile, key+"/"+MetadataFile),
			errs: []error{ErrNoMetadata, ErrNotFound},
		}
	}
	return &storeError{
		msg: fmt.Sprintf("savepoint %q in snapshot store %s is incomplete: the directory has files but no %s (key %q); "+
			"Flink did not finish writing it, or it is being copied or disposed", flinkPath, s.Root(), MetadataFile, key+"/"+MetadataFile),
		errs: []error{ErrNoMetadata},
	}
}

// Verify checks that the savepoint at flinkPath is complete: its _metadata exists. If not,
// the error wraps ErrNoMetadata (and ErrNotFound when the directory is empty or missing).
func (s *Store) Verify(ctx context.Context, flinkPath string) error {
	key, err := s.Key(flinkPath)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return s.fail("verify", flinkPath, err)
	}
	ok, err := s.bucket.Exists(ctx, key+"/"+MetadataFile)
	if err != nil {
		return s.fail("verify", flinkPath, err)
	}
	if ok {
		return nil
	}
	found, err := s.nonEmpty(ctx, key)
	if err != nil {
		return s.fail("verify", flinkPath, err)
	}
	return s.noMetadata(flinkPath, key, !found)
}

// Size returns the total bytes of every object under the savepoint directory. A directory
// with no objects is an error wrapping ErrNotFound.
func (s *Store) Size(ctx context.Context, flinkPath string) (int64, error) {
	key, err := s.Key(flinkPath)
	if err != nil {
		return 0, err
	}
	objs, err := s.list(ctx, key)
	if err != nil {
		return 0, s.fail("measure", flinkPath, err)
	}
	if len(objs) == 0 {
		return 0, &storeError{
			msg:  fmt.Sprintf("no savepoint at %q in snapshot store %s: nothing under key %q", flinkPath, s.Root(), key+"/"),
			errs: []error{ErrNotFound},
		}
	}
	return total(objs), nil
}

func total(objs []object) int64 {
	var n int64
	for _, o := range objs {
		n += o.size
	}
	return n
}

// splitMetadata separates the directory's _metadata from its other objects.
func splitMetadata(objs []object) (meta *object, rest []object) {
	for i := range objs {
		if objs[i].rel == MetadataFile {
			meta = &objs[i]
		} else {
			rest = append(rest, objs[i])
		}
	}
	return meta, rest
}

// Copy copies the complete savepoint at srcPath in s to dstPath in dst (which may be s),
// and returns its size in bytes. The source must be complete (else an error wrapping
// ErrNoMetadata). Objects are copied up to 8 at a time and _metadata last, after every
// other object succeeded, so an interrupted copy never leaves a valid-looking savepoint.
//
// Copy can be repeated: a destination left incomplete by an earlier attempt is completed
// (objects the source does not have are deleted first), and a destination that already
// holds the same savepoint (same files and sizes, identical _metadata) is left as it is.
// A destination holding a different complete savepoint is an error wrapping ErrExists.
// On error the bytes copied so far are returned.
func (s *Store) Copy(ctx context.Context, srcPath string, dst *Store, dstPath string) (int64, error) {
	if dst == nil {
		return 0, errors.New("copy savepoint: no destination store")
	}
	srcKey, err := s.Key(srcPath)
	if err != nil {
		return 0, err
	}
	dstKey, err := dst.Key(dstPath)
	if err != nil {
		return 0, err
	}
	if s.root.sameBucket(dst.root) {
		a, b := s.root.String()+"/"+srcKey, dst.root.String()+"/"+dstKey
		if a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") {
			return 0, fmt.Errorf("copy savepoint %q to %q: source and destination overlap", srcPath, dstPath)
		}
	}

	srcObjs, err := s.list(ctx, srcKey)
	if err != nil {
		return 0, s.fail("copy from", srcPath, err)
	}
	meta, rest := splitMetadata(srcObjs)
	if meta == nil {
		return 0, fmt.Errorf("copy savepoint to %q: %w", dstPath, s.noMetadata(srcPath, srcKey, len(srcObjs) == 0))
	}
	size := total(srcObjs)

	dstObjs, err := dst.list(ctx, dstKey)
	if err != nil {
		return 0, dst.fail("copy to", dstPath, err)
	}
	if dstMeta, _ := splitMetadata(dstObjs); dstMeta != nil {
		same, err := sameSavepoint(ctx, s, srcObjs, dst, dstObjs)
		if err != nil {
			return 0, err
		}
		if same {
			return size, nil
		}
		return 0, &storeError{
			msg: fmt.Sprintf("copy savepoint %q to %q in snapshot store %s: the destination already holds a different savepoint; "+
				"dispose it or choose another destination", srcPath, dstPath, dst.Root()),
			errs: []error{ErrExists},
		}
	}

	if err := dst.deleteStale(ctx, dstObjs, srcObjs); err != nil {
		return 0, dst.fail("copy to", dstPath, err)
	}
	return copyObjects(ctx, s, srcPath, rest, *meta, dst, dstKey, dstPath)
}

// deleteStale deletes the leftovers of an earlier attempt that the source does not have,
// which would otherwise end up in the copy.
func (s *Store) deleteStale(ctx context.Context, dstObjs, srcObjs []object) error {
	want := make(map[string]bool, len(srcObjs))
	for _, o := range srcObjs {
		want[o.rel] = true
	}
	var stale []string
	for _, o := range dstObjs {
		if !want[o.rel] {
			stale = append(stale, o.key)
		}
	}
	return s.deleteAll(ctx, stale)
}

// copyObjects copies rest up to parallelism at a time, then meta, and returns the bytes
// copied.
func copyObjects(ctx context.Context, s *Store, srcPath string, rest []object, meta object, dst *Store, dstKey, dstPath string) (int64, error) {
	var copied atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for _, o := range rest {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, err := copyObject(gctx, s, o.key, srcPath, dst, dstKey+"/"+o.rel, dstPath, o.size)
			copied.Add(n)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return copied.Load(), err
	}
	if err := ctx.Err(); err != nil {
		return copied.Load(), dst.fail("copy to", dstPath, err)
	}
	n, err := copyObject(ctx, s, meta.key, srcPath, dst, dstKey+"/"+MetadataFile, dstPath, meta.size)
	copied.Add(n)
	return copied.Load(), err
}

// sameSavepoint reports whether two listings are the same savepoint: the same files with
// the same sizes and byte-identical _metadata.
func sameSavepoint(ctx context.Context, src *Store, srcObjs []object, dst *Store, dstObjs []object) (bool, error) {
	if len(srcObjs) != len(dstObjs) {
		return false, nil
	}
	var srcMeta, dstMeta string
	for i := range srcObjs {
		if srcObjs[i].rel != dstObjs[i].rel || srcObjs[i].size != dstObjs[i].size {
			return false, nil
		}
		if srcObjs[i].rel == MetadataFile {
			srcMeta, dstMeta = srcObjs[i].key, dstObjs[i].key
		}
	}
	a, err := src.bucket.ReadAll(ctx, srcMeta)
	if err != nil {
		return false, src.fail("read", src.FlinkPath(srcMeta), err)
	}
	b, err := dst.bucket.ReadAll(ctx, dstMeta)
	if err != nil {
		return false, dst.fail("read", dst.FlinkPath(dstMeta), err)
	}
	return bytes.Equal(a, b), nil
}

// copyObject copies one object and returns the bytes written. A failed write is aborted,
// so no partial object is left under the destination key.
func copyObject(ctx context.Context, src *Store, srcKey, srcPath string, dst *Store, dstKey, dstPath string, size int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, dst.fail("copy to", dstPath, err)
	}
	if src.bucket == dst.bucket {
		// Same bucket: let the storage copy it server-side.
		if err := dst.bucket.Copy(ctx, dstKey, srcKey, nil); err != nil {
			return 0, dst.fail("copy "+src.FlinkPath(srcKey)+" to", dst.FlinkPath(dstKey), err)
		}
		return size, nil
	}
	r, err := src.bucket.NewReader(ctx, srcKey, nil)
	if err != nil {
		return 0, src.fail("read", src.FlinkPath(srcKey), err)
	}
	defer func() { _ = r.Close() }() // a reader read to the end: its close reports nothing new
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := &blob.WriterOptions{}
	if ct := r.ContentType(); ct != "" {
		if _, _, err := mime.ParseMediaType(ct); err == nil {
			opts.ContentType = ct
		}
	}
	w, err := dst.bucket.NewWriter(wctx, dstKey, opts)
	if err != nil {
		return 0, dst.fail("write", dst.FlinkPath(dstKey), err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		cancel() // abort the write
		_ = w.Close()
		if rerr := ctx.Err(); rerr != nil {
			err = rerr
		}
		return 0, dst.fail("copy "+src.FlinkPath(srcKey)+" to", dst.FlinkPath(dstKey), err)
	}
	if err := ctx.Err(); err != nil {
		cancel()
		_ = w.Close()
		return 0, dst.fail("write", dst.FlinkPath(dstKey), err)
	}
	if err := w.Close(); err != nil {
		return 0, dst.fail("write", dst.FlinkPath(dstKey), err)
	}
	return n, nil
}

// deleteAll deletes keys, up to 8 at a time; keys already gone are fine.
func (s *Store) deleteAll(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for _, k := range keys {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return s.deleteKey(gctx, k) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *Store) deleteKey(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// Dispose deletes every object under the savepoint directory: _metadata first, so a
// half-disposed savepoint is never taken for a valid one, then the rest up to 8 at a time.
// A missing directory is not an error, so Dispose can be repeated. On a file store opened
// by Open, the emptied directories are removed too.
func (s *Store) Dispose(ctx context.Context, flinkPath string) error {
	key, err := s.Key(flinkPath)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return s.fail("dispose", flinkPath, err)
	}
	// Delete _metadata before listing: even a directory another writer is filling is
	// invalid from here on.
	if err := s.deleteKey(ctx, key+"/"+MetadataFile); err != nil {
		return s.fail("dispose", flinkPath, err)
	}
	objs, err := s.list(ctx, key)
	if err != nil {
		return s.fail("dispose", flinkPath, err)
	}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, o.key)
	}
	if err := s.deleteAll(ctx, keys); err != nil {
		return s.fail("dispose", flinkPath, err)
	}
	s.removeEmptyDirs(key)
	return nil
}

// RemoveAll deletes every object under the Flink directory dir (e.g. a generation's HA
// storage directory), up to 8 at a time. A missing directory is not an error.
func (s *Store) RemoveAll(ctx context.Context, dir string) error {
	key, err := s.Key(dir)
	if err != nil {
		return err
	}
	objs, err := s.list(ctx, key)
	if err != nil {
		return s.fail("delete", dir, err)
	}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, o.key)
	}
	if err := s.deleteAll(ctx, keys); err != nil {
		return s.fail("delete", dir, err)
	}
	s.removeEmptyDirs(key)
	return nil
}

// removeEmptyDirs removes, best effort, the empty directories fileblob leaves on disk
// under the directory key, and the directory itself.
func (s *Store) removeEmptyDirs(key string) {
	if s.localDir == "" {
		return
	}
	top := filepath.Join(s.localDir, filepath.FromSlash(key))
	var dirs []string
	_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs) // children before parents
	for _, d := range dirs {
		_ = os.Remove(d) // fails, harmlessly, if not empty
	}
}

// WriteSavepoint writes a savepoint directory the way Flink does: every file, then
// _metadata. files maps names relative to the directory (which may contain "/") to their
// contents; its "_metadata" entry, if any, is the _metadata content, otherwise a
// placeholder is written. It is meant for emulators and tests.
func (s *Store) WriteSavepoint(ctx context.Context, flinkPath string, files map[string][]byte) error {
	key, err := s.Key(flinkPath)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || name == "." ||
			name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("write savepoint %q: bad file name %q; names are relative, clean paths", flinkPath, name)
		}
		if name != MetadataFile {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.writeFile(ctx, key+"/"+name, files[name]); err != nil {
			return s.fail("write savepoint", flinkPath, err)
		}
	}
	meta, ok := files[MetadataFile]
	if !ok {
		meta = []byte("savepoint " + flinkPath + "\n")
	}
	if err := s.writeFile(ctx, key+"/"+MetadataFile, meta); err != nil {
		return s.fail("write savepoint", flinkPath, err)
	}
	return nil
}

func (s *Store) writeFile(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: "application/octet-stream"})
}

// Found is a complete savepoint found by FindSavepoints.
type Found struct {
	Path    string    // Flink path of the savepoint directory
	ModTime time.Time // when its _metadata was written
}

// FindSavepoints lists the complete savepoints (directories holding _metadata) directly
// under the Flink directory dir whose names start with prefix, newest _metadata first. It
// answers "did Flink finish a savepoint here?" when Flink itself no longer knows (its
// operation cache expired, or the JobManager restarted).
func (s *Store) FindSavepoints(ctx context.Context, dir, prefix string) ([]Found, error) {
	key, err := s.Key(dir)
	if err != nil {
		return nil, err
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: key + "/" + prefix, Delimiter: "/"})
	var found []Found
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.fail("list", dir, err)
		}
		if !o.IsDir {
			continue
		}
		sub := strings.TrimSuffix(o.Key, "/")
		attrs, err := s.bucket.Attributes(ctx, sub+"/"+MetadataFile)
		if gcerrors.Code(err) == gcerrors.NotFound {
			continue // not complete (yet)
		}
		if err != nil {
			return nil, s.fail("read", s.FlinkPath(sub), err)
		}
		found = append(found, Found{Path: s.FlinkPath(sub), ModTime: attrs.ModTime})
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].ModTime.After(found[j].ModTime) })
	return found, nil
}

// MetadataTime is when the _metadata of the savepoint or checkpoint at flinkPath was
// written, by the storage's clock.
func (s *Store) MetadataTime(ctx context.Context, flinkPath string) (time.Time, error) {
	key, err := s.Key(flinkPath)
	if err != nil {
		return time.Time{}, err
	}
	attrs, err := s.bucket.Attributes(ctx, key+"/"+MetadataFile)
	if err != nil {
		return time.Time{}, s.fail("read", flinkPath, err)
	}
	return attrs.ModTime, nil
}

// ReadMetadata reads what the _metadata of the savepoint or checkpoint at flinkPath says
// about its operators. A missing _metadata is an error wrapping ErrNoMetadata (a checkpoint
// Flink has since subsumed and deleted, say); an unreadable format one wrapping
// metadata.ErrUnsupported.
func (s *Store) ReadMetadata(ctx context.Context, flinkPath string) (*metadata.Metadata, error) {
	key, err := s.Key(flinkPath)
	if err != nil {
		return nil, err
	}
	r, err := s.bucket.NewReader(ctx, key+"/"+MetadataFile, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		found, _ := s.nonEmpty(ctx, key) // only picks the wording
		return nil, s.noMetadata(flinkPath, key, !found)
	}
	if err != nil {
		return nil, s.fail("read", flinkPath, err)
	}
	defer func() { _ = r.Close() }() // a reader's close reports nothing the read did not
	m, err := metadata.Read(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", flinkPath, MetadataFile, err)
	}
	return m, nil
}
