// Package snapshotstest gives tests of code that writes to snapshot storage a bucket that
// records what is written and deleted, in order, and lets the test fail or watch each write
// and delete.
package snapshotstest

import (
	"context"
	"errors"
	"io"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// Recorder is a blob driver over another bucket that records, in order, the keys whose
// writes were committed and the keys deleted. Its hooks let a test act when a write commits
// or a delete is done (e.g. cancel the operation in flight, put the delete on a timeline),
// and make writes or deletes fail. Hooks may be changed while the bucket is in use.
type Recorder struct {
	inner *blob.Bucket

	mu         sync.Mutex
	written    []string
	deleted    []string
	onCommit   func(key string)
	onDelete   func(key string)
	failWrite  func(key string) error
	failDelete func(key string) error
}

// NewRecorder returns a Recorder over inner and the bucket to hand to the code under test.
// Closing that bucket closes inner.
func NewRecorder(inner *blob.Bucket) (*Recorder, *blob.Bucket) {
	r := &Recorder{inner: inner}
	return r, blob.NewBucket(r)
}

// Written returns the keys written so far (by a writer or as a copy's destination), in
// the order the writes committed.
func (r *Recorder) Written() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.written...)
}

// Deleted returns the keys deleted so far, in order.
func (r *Recorder) Deleted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.deleted...)
}

// OnCommit makes fn run after each write of a key committed (nil: nothing runs).
func (r *Recorder) OnCommit(fn func(key string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onCommit = fn
}

// OnDelete makes fn run after each key is deleted (nil: nothing runs).
func (r *Recorder) OnDelete(fn func(key string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onDelete = fn
}

// FailWrite makes a write of key fail at Close with fn(key), if that is not nil; the key is
// then left as it was (nil fn: every write succeeds).
func (r *Recorder) FailWrite(fn func(key string) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failWrite = fn
}

// FailDelete makes a delete of key fail with fn(key), if that is not nil; the key is then
// kept (nil fn: every delete succeeds).
func (r *Recorder) FailDelete(fn func(key string) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failDelete = fn
}

// hooks returns the hooks as they are now, so that none runs under the lock.
func (r *Recorder) hooks() (onCommit, onDelete func(string), failWrite, failDelete func(string) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.onCommit, r.onDelete, r.failWrite, r.failDelete
}

func (r *Recorder) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (r *Recorder) As(any) bool                            { return false }
func (r *Recorder) ErrorAs(error, any) bool                { return false }

func (r *Recorder) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := r.inner.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{
		ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime,
		ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag,
	}, nil
}

func (r *Recorder) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	token := opts.PageToken
	if len(token) == 0 { // drivers get nil for the first page, blob.ListPage wants FirstPageToken
		token = blob.FirstPageToken
	}
	objs, next, err := r.inner.ListPage(ctx, token, size,
		&blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil && err != io.EOF {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{
			Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir,
		})
	}
	return page, nil
}

type reader struct{ r *blob.Reader }

func (rd reader) Read(p []byte) (int, error) { return rd.r.Read(p) }
func (rd reader) Close() error               { return rd.r.Close() }
func (rd reader) As(any) bool                { return false }
func (rd reader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: rd.r.ContentType(), ModTime: rd.r.ModTime(), Size: rd.r.Size()}
}

func (r *Recorder) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	rd, err := r.inner.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return reader{rd}, nil
}

type writer struct {
	r      *Recorder
	key    string
	w      *blob.Writer
	cancel context.CancelFunc // aborts the inner write
}

func (w *writer) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *writer) Close() error {
	onCommit, _, failWrite, _ := w.r.hooks()
	if failWrite != nil {
		if err := failWrite(w.key); err != nil {
			w.cancel()
			_ = w.w.Close()
			return err
		}
	}
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return err
	}
	w.r.mu.Lock()
	w.r.written = append(w.r.written, w.key)
	w.r.mu.Unlock()
	if onCommit != nil {
		onCommit(w.key)
	}
	return nil
}

func (r *Recorder) NewTypedWriter(ctx context.Context, key, contentType string, _ *driver.WriterOptions) (driver.Writer, error) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := r.inner.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		cancel()
		return nil, err
	}
	return &writer{r: r, key: key, w: w, cancel: cancel}, nil
}

func (r *Recorder) Copy(ctx context.Context, dstKey, srcKey string, _ *driver.CopyOptions) error {
	if err := r.inner.Copy(ctx, dstKey, srcKey, nil); err != nil {
		return err
	}
	r.mu.Lock()
	r.written = append(r.written, dstKey)
	r.mu.Unlock()
	return nil
}

func (r *Recorder) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	_, onDelete, _, failDelete := r.hooks()
	if failDelete != nil {
		if err := failDelete(key); err != nil {
			return err
		}
	}
	if err := r.inner.Delete(ctx, key); err != nil {
		return err
	}
	r.mu.Lock()
	r.deleted = append(r.deleted, key)
	r.mu.Unlock()
	if onDelete != nil {
		onDelete(key)
	}
	return nil
}

func (r *Recorder) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errors.New("not supported")
}

func (r *Recorder) Close() error { return r.inner.Close() }
