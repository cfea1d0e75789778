package snapshots

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// MetadataFile is the file whose presence makes a directory a complete Flink savepoint.
// Flink writes it last; Copy writes it last and Dispose deletes it first, so a directory
// half-way through either is never taken for a valid savepoint.
const MetadataFile = "_metadata"

// parallelism bounds the objects copied or deleted at a time by one Copy or Dispose.
const parallelism = 8

var (
	// ErrNoMetadata: the savepoint directory has no _metadata file, so it is not (or no
	// longer, or not yet) a complete savepoint.
	ErrNoMetadata = errors.New("savepoint has no " + MetadataFile)
	// ErrNotFound: there are no objects at all under the savepoint directory. Verify's
	// errors for a missing directory wrap both ErrNotFound and ErrNoMetadata.
	ErrNotFound = errors.New("savepoint directory not found")
	// ErrExists: Copy's destination already holds a different complete savepoint.
	ErrExists = errors.New("destination already holds a savepoint")
)

// Store is a snapshot store: a blob bucket together with the Flink-side URL its keys are
// relative to (its root). Flink savepoint paths under the root map to directory keys in
// the bucket. A Store is safe for concurrent use.
type Store struct {
	bucket   *blob.Bucket
	root     location
	rootErr  error  // set when OpenBucket was given a root it cannot parse
	rawRoot  string // the root as given, for messages when rootErr is set
	owned    bool   // Close closes the bucket
	localDir string // for file stores opened by Open: the root directory on disk
	// credentials says where the keys of an s3:// store come from, for hints ("" = the AWS
	// SDK's default chain).
	credentials string
}

// Open opens the snapshot store at storageURL (the provider's snapshot_storage_url), a
// gocloud.dev/blob URL such as s3://bucket/prefix?region=eu-west-1, gs://bucket/prefix,
// azblob://container/prefix, file:///var/savepoints or mem://.
//
// The URL's path (and a "prefix" query option) is the store's root: unlike gocloud's s3,
// gs and azblob drivers, which ignore the path, the store only sees keys under it. For
// file:// stores, Open sets the fileblob options metadata=skip (no .attrs sidecar files in
// directories Flink reads) and no_tmp_dir (savepoint directories are often on their own
// mount, where renaming from os.TempDir fails) unless the URL sets them. Every Open of
// mem:// gets a new, empty bucket; use OpenBucket to share one.
//
// Open does not contact the storage (cloud drivers authenticate on first use), so a bad
// credential shows up in the first operation's error.
func Open(ctx context.Context, storageURL string) (*Store, error) {
	return openStore(ctx, storageURL, nil)
}

// openStore is Open, signing s3:// requests with s3Creds when they are set.
func openStore(ctx context.Context, storageURL string, s3Creds *S3Credentials) (*Store, error) {
	if err := ValidateURL(storageURL); err != nil {
		return nil, fmt.Errorf("snapshot storage URL: %w", err)
	}
	root, err := parseLocation(storageURL, true)
	if err != nil {
		return nil, fmt.Errorf("snapshot storage URL: %w", err)
	}
	u, err := url.Parse(storageURL)
	if err != nil {
		return nil, fmt.Errorf("snapshot storage URL: %w", err)
	}
	q := u.Query()
	if q.Has("key") {
		return nil, fmt.Errorf("snapshot storage URL %q: the \"key\" option names a single object; a snapshot store needs a bucket or directory", storageURL)
	}
	q.Del("prefix")
	open := *u
	var prefix, localDir string
	switch root.scheme {
	case "file":
		// fileblob roots the bucket at the URL's path; a "prefix" option becomes a prefix
		// inside it.
		open.RawQuery = q.Encode()
		dir, err := parseLocation(open.String(), true)
		if err != nil {
			return nil, fmt.Errorf("snapshot storage URL: %w", err)
		}
		rel, ok := dir.rel(root)
		if !ok {
			return nil, fmt.Errorf("snapshot storage URL %q: the prefix option leaves the directory", storageURL)
		}
		prefix = rel
		open.Host, open.Path, open.RawPath = "", "/"+dir.path, ""
		if !q.Has("metadata") {
			q.Set("metadata", "skip")
		}
		if !q.Has("no_tmp_dir") {
			q.Set("no_tmp_dir", "true")
		}
		localDir = filepath.FromSlash("/" + root.path)
	default:
		// s3, gs and azblob open the bucket named by the host and ignore the path; mem has
		// neither. The root's path becomes a prefix.
		prefix = root.path
		open.Path, open.RawPath = "", ""
		if root.scheme == "mem" {
			open.Host = ""
		}
	}
	open.RawQuery = q.Encode()
	var b *blob.Bucket
	if s3Creds != nil && root.scheme == "s3" {
		b, err = openS3(ctx, &open, *s3Creds)
	} else {
		b, err = blob.OpenBucket(ctx, open.String())
	}
	if err != nil {
		return nil, fmt.Errorf("open snapshot store %s: %v%s", root, err, openHint(root))
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix+"/")
	}
	st := &Store{bucket: b, root: root, owned: true, localDir: localDir}
	if s3Creds != nil {
		st.credentials = s3Creds.Source
	}
	return st, nil
}

// OpenBucket makes a Store of a bucket the caller opened, whose keys are relative to root:
// the Flink-side URL the bucket corresponds to, e.g. "file:///tmp/x" for a mem:// bucket
// that an emulator pretends is that directory, or "s3://bucket/prefix". The caller keeps
// ownership of b: the Store's Close does not close it. A root that cannot be parsed makes
// every operation fail with the reason.
func OpenBucket(b *blob.Bucket, root string) *Store {
	l, err := parseLocation(root, true)
	if err != nil {
		err = fmt.Errorf("snapshot store root: %w", err)
	}
	return &Store{bucket: b, root: l, rootErr: err, rawRoot: root}
}

// Close releases the bucket of a Store made by Open. For a Store made by OpenBucket it
// does nothing: the bucket belongs to the caller.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.bucket.Close(); err != nil {
		return fmt.Errorf("close snapshot store %s: %w", s.Root(), err)
	}
	return nil
}

// Bucket returns the store's bucket. Its keys are relative to Root.
func (s *Store) Bucket() *blob.Bucket { return s.bucket }

// Root returns the canonical URL of the store's root, e.g. "s3://bucket/prefix",
// "file:///var/savepoints" or "mem://".
func (s *Store) Root() string {
	if s.rootErr != nil {
		return s.rawRoot
	}
	return s.root.String()
}

// Key maps a Flink savepoint path to the savepoint's directory key inside the bucket (no
// leading or trailing slash). It accepts the forms Flink reports: s3://, s3a://, s3n:// and
// s3p:// paths all map to an s3:// store of the same bucket; file:/x, file:///x and
// file://localhost/x are the same; wasb[s]:// and abfs[s]://container@account.../x map to
// an azblob://container store. Trailing slashes and "." / ".." elements are cleaned. A
// path outside the store's root, or the root itself, is an error naming both.
func (s *Store) Key(flinkPath string) (string, error) {
	if s.rootErr != nil {
		return "", s.rootErr
	}
	p, err := parseLocation(flinkPath, false)
	if err != nil {
		return "", fmt.Errorf("snapshot store %s: %w", s.root, err)
	}
	rel, ok := s.root.rel(p)
	if !ok {
		return "", fmt.Errorf("savepoint path %q (%s) is outside snapshot store %s; "+
			"Flink must write savepoints under the store's URL: set the application's snapshot directory "+
			"under it, or point snapshot_storage_url at the storage Flink writes to", flinkPath, p, s.root)
	}
	if rel == "" {
		return "", fmt.Errorf("savepoint path %q is the root of snapshot store %s itself, not a savepoint directory under it", flinkPath, s.root)
	}
	return rel, nil
}

// FlinkPath is the inverse of Key: the canonical URL of the directory key in the store
// (file stores give file:///dir, which Flink accepts).
func (s *Store) FlinkPath(key string) string {
	r := s.Root()
	if strings.HasSuffix(r, "/") {
		return r + key
	}
	return r + "/" + key
}

// storeError carries a full message and the errors it wraps (sentinels and causes).
type storeError struct {
	msg  string
	errs []error
}

func (e *storeError) Error() string   { return e.msg }
func (e *storeError) Unwrap() []error { return e.errs }

// fail wraps a storage error with the store, the operation and what to do about it.
func (s *Store) fail(op, flinkPath string, err error) error {
	return &storeError{
		msg:  fmt.Sprintf("snapshot store %s: %s %q: %v%s", s.Root(), op, flinkPath, err, s.hint(err)),
		errs: []error{err},
	}
}

// hint says what to check for a storage error.
func (s *Store) hint(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	code := gcerrors.Code(err)
	switch code {
	case gcerrors.Canceled, gcerrors.DeadlineExceeded:
		return ""
	}
	switch s.root.scheme {
	case "file":
		if code == gcerrors.PermissionDenied {
			return "; check that the user running Terraform may read, write and delete files in " + "/" + s.root.path
		}
	case "s3", "gs", "azblob":
		switch code {
		case gcerrors.NotFound:
			return fmt.Sprintf("; check that the bucket %q exists and snapshot_storage_url names it", s.root.bucket)
		case gcerrors.PermissionDenied, gcerrors.Unknown, gcerrors.Internal, gcerrors.FailedPrecondition:
			if s.credentials != "" {
				return fmt.Sprintf("; check the keys in %s, that they may list, read, write and delete in bucket %q, "+
					"and the region (?region= in snapshot_storage_url)", s.credentials, s.root.bucket)
			}
			return cloudHint(s.root)
		}
	}
	return ""
}

func cloudHint(l location) string {
	switch l.scheme {
	case "s3":
		return fmt.Sprintf("; check the AWS credentials Terraform runs with (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "+
			"AWS_PROFILE, or an instance/pod role), that they may list, read, write and delete in bucket %q, "+
			"and the region (?region= in snapshot_storage_url)", l.bucket)
	case "gs":
		return fmt.Sprintf("; check the Google credentials Terraform runs with (GOOGLE_APPLICATION_CREDENTIALS, "+
			"gcloud auth application-default login, or workload identity) and their access to bucket %q", l.bucket)
	case "azblob":
		return fmt.Sprintf("; check AZURE_STORAGE_ACCOUNT (or ?storage_account=) and the credentials "+
			"(AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Azure AD identity) for container %q", l.bucket)
	}
	return ""
}

func openHint(l location) string {
	switch l.scheme {
	case "file":
		return "; the directory must exist and be readable by the user running Terraform " +
			"(or add ?create_dir=true to snapshot_storage_url)"
	case "s3", "gs", "azblob":
		return cloudHint(l)
	}
	return ""
}
