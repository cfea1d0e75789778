package snapshots

import (
	"context"
	"errors"
	"io"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// recorder is a blob driver over another bucket that records, in order, the keys whose
// writes were committed and the keys deleted, and lets a test act when a write commits
// (e.g. cancel the context of the operation in flight) or make a write fail.
type recorder struct {
	inner *blob.Bucket

	mu      sync.Mutex
	written []string
	deleted []string

	// onCommit, if set, runs after a write of key committed.
	onCommit func(key string)
	// failWrite, if set, is the error a write of key fails with at Close (nil: succeed).
	failWrite func(key string) error
}

func newRecorder(inner *blob.Bucket) (*recorder, *blob.Bucket) {
	r := &recorder{inner: inner}
	return r, blob.NewBucket(r)
}

func (r *recorder) Written() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.written...)
}

func (r *recorder) Deleted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.deleted...)
}

func (r *recorder) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (r *recorder) As(any) bool                            { return false }
func (r *recorder) ErrorAs(error, any) bool                { return false }

func (r *recorder) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := r.inner.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{
		ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime,
		ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag,
	}, nil
}

func (r *recorder) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
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

type recReader struct{ r *blob.Reader }

func (rr recReader) Read(p []byte) (int, error) { return rr.r.Read(p) }
func (rr recReader) Close() error               { return rr.r.Close() }
func (rr recReader) As(any) bool                { return false }
func (rr recReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: rr.r.ContentType(), ModTime: rr.r.ModTime(), Size: rr.r.Size()}
}

func (r *recorder) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	rd, err := r.inner.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return recReader{rd}, nil
}

type recWriter struct {
	r      *recorder
	key    string
	w      *blob.Writer
	cancel context.CancelFunc
}

func (w *recWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *recWriter) Close() error {
	if w.r.failWrite != nil {
		if err := w.r.failWrite(w.key); err != nil {
			w.cancel() // abort the inner write
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
	if w.r.onCommit != nil {
		w.r.onCommit(w.key)
	}
	return nil
}

func (r *recorder) NewTypedWriter(ctx context.Context, key, contentType string, _ *driver.WriterOptions) (driver.Writer, error) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := r.inner.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		cancel()
		return nil, err
	}
	return &recWriter{r: r, key: key, w: w, cancel: cancel}, nil
}

func (r *recorder) Copy(ctx context.Context, dstKey, srcKey string, _ *driver.CopyOptions) error {
	if err := r.inner.Copy(ctx, dstKey, srcKey, nil); err != nil {
		return err
	}
	r.mu.Lock()
	r.written = append(r.written, dstKey)
	r.mu.Unlock()
	return nil
}

func (r *recorder) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	if err := r.inner.Delete(ctx, key); err != nil {
		return err
	}
	r.mu.Lock()
	r.deleted = append(r.deleted, key)
	r.mu.Unlock()
	return nil
}

func (r *recorder) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errors.New("not supported")
}

func (r *recorder) Close() error { return r.inner.Close() }
