//go:build tools

// Package s3 pins the S3-compatible object store the real-Flink tests write savepoints and
// checkpoints to: versitygw (Apache-2.0) with its posix backend, which serves the
// directories under one root directory as buckets (internal/acctest/s3.go starts it).
package s3

import _ "github.com/versity/versitygw/cmd/versitygw"
