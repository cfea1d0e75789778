// Package snapshots is the snapshot store: savepoint directories in a gocloud.dev/blob
// bucket, which the provider verifies, measures, copies and disposes.
package snapshots

import (
	"fmt"
	"net/url"

	"gocloud.dev/blob"
	// The bucket drivers users may name in snapshot_storage_url.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// ValidateURL checks that raw is a bucket URL one of the linked drivers can open, without
// opening it (plan time must not need cloud credentials).
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme == "" {
		return fmt.Errorf("%q has no scheme; use s3://, gs://, azblob://, file:// or mem://", raw)
	}
	if !blob.DefaultURLMux().ValidBucketScheme(u.Scheme) {
		return fmt.Errorf("%q: scheme %q is not supported; use s3://, gs://, azblob://, file:// or mem://", raw, u.Scheme)
	}
	if u.Scheme != "mem" && u.Host == "" && u.Path == "" {
		return fmt.Errorf("%q names no bucket or directory", raw)
	}
	return nil
}
