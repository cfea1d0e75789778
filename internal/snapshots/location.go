package snapshots

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// location is a storage URL reduced to what decides which objects it names: the kind of
// storage, the bucket (container) and the slash-separated path inside it. Flink's spellings
// are folded together: s3a://, s3n:// and s3p:// are s3://; file:/x, file:///x and
// file://localhost/x are the same file; wasb[s]:// and abfs[s]://container@account.host/...
// are azblob://container/....
type location struct {
	scheme  string // s3, gs, azblob, file or mem
	bucket  string // bucket or container; "" for file and mem
	account string // Azure storage account, when known
	path    string // cleaned; no leading or trailing slash; "" for the bucket's top
}

// String is the canonical URL of the location, as used in messages and by Store.Root.
func (l location) String() string {
	switch l.scheme {
	case "file":
		return "file:///" + l.path
	case "mem":
		return "mem://" + l.path
	}
	s := l.scheme + "://" + l.bucket
	if l.path != "" {
		s += "/" + l.path
	}
	return s
}

// sameBucket reports whether two locations are in the same bucket of the same storage.
func (l location) sameBucket(o location) bool {
	if l.scheme != o.scheme || l.bucket != o.bucket {
		return false
	}
	return l.account == "" || o.account == "" || l.account == o.account
}

// rel returns p's path relative to l, which must contain it. ok is false when p is not
// inside l (a path equal to l is inside it, with rel "").
func (l location) rel(p location) (rel string, ok bool) {
	if !l.sameBucket(p) {
		return "", false
	}
	switch {
	case l.path == "":
		return p.path, true
	case p.path == l.path:
		return "", true
	case strings.HasPrefix(p.path, l.path+"/"):
		return p.path[len(l.path)+1:], true
	}
	return "", false
}

const formsHint = "expected s3://bucket/dir (or s3a://, s3p://), gs://bucket/dir, azblob://container/dir " +
	"(or wasbs://, abfss://container@account...), file:///dir (or file:/dir) or mem://dir"

// parseLocation parses a storage URL. root is true for a store's root (snapshot_storage_url
// or OpenBucket's root), whose query carries driver options and may have a "prefix" option
// that extends the path, and whose file path may be relative (file://./dir). Savepoint paths
// (root false) must be absolute and carry no query.
func parseLocation(raw string, root bool) (location, error) {
	var l location
	u, err := url.Parse(raw)
	if err != nil {
		return l, fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme == "" {
		return l, fmt.Errorf("%q has no scheme; %s", raw, formsHint)
	}
	if u.Opaque != "" {
		return l, fmt.Errorf("%q is not an absolute path; %s", raw, formsHint)
	}
	if !root && (u.RawQuery != "" || u.Fragment != "") {
		return l, fmt.Errorf("savepoint path %q has a query or fragment; a savepoint path is a plain directory URL", raw)
	}
	p := u.Path
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "s3", "s3a", "s3n", "s3p":
		l.scheme, l.bucket = "s3", u.Host
	case "gs":
		l.scheme, l.bucket = "gs", u.Host
	case "azblob":
		l.scheme, l.bucket = "azblob", u.Host
		if root {
			l.account = u.Query().Get("storage_account")
			if l.account == "" {
				l.account = os.Getenv("AZURE_STORAGE_ACCOUNT")
			}
		}
	case "wasb", "wasbs", "abfs", "abfss":
		// Hadoop's Azure file systems: scheme://container@account.blob.core.windows.net/path.
		if u.User == nil || u.User.Username() == "" {
			return l, fmt.Errorf("%q names no container; expected %s://container@account.../dir", raw, scheme)
		}
		l.scheme, l.bucket = "azblob", u.User.Username()
		l.account, _, _ = strings.Cut(u.Hostname(), ".")
	case "file":
		l.scheme = "file"
		switch u.Host {
		case "", "localhost":
		case ".":
			if !root {
				return l, fmt.Errorf("savepoint path %q is relative; Flink reports absolute paths (file:/dir or file:///dir)", raw)
			}
			abs, err := filepath.Abs(filepath.FromSlash(strings.TrimPrefix(p, "/")))
			if err != nil {
				return l, fmt.Errorf("%q: %v", raw, err)
			}
			p = filepath.ToSlash(abs)
		default:
			return l, fmt.Errorf("%q names host %q; only local files (file:/dir or file:///dir) are supported", raw, u.Host)
		}
	case "mem":
		// mem:// buckets have no name: mem://a/b is the key a/b.
		l.scheme = "mem"
		p = u.Host + "/" + p
	default:
		return l, fmt.Errorf("%q: scheme %q is not supported; %s", raw, u.Scheme, formsHint)
	}
	if (l.scheme == "s3" || l.scheme == "gs" || l.scheme == "azblob") && l.bucket == "" {
		return l, fmt.Errorf("%q names no bucket; %s", raw, formsHint)
	}
	if root {
		if pre := u.Query().Get("prefix"); pre != "" {
			p += "/" + pre
		}
	}
	l.path = strings.Trim(path.Clean("/"+p), "/")
	return l, nil
}
