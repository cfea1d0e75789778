package acctest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// S3 test storage: versitygw (Apache-2.0, built by tools/install.sh from tools/s3) with its
// posix backend, an S3-compatible server on 127.0.0.1 whose buckets are the directories under
// one root directory. Real Flink writes checkpoints and savepoints to it through its own S3
// filesystem plugin (tools/flink.sh puts one into every fetched distribution's plugins/), and
// the provider reads them through gocloud.dev's s3blob (internal/snapshots), as it would
// from AWS S3.

// S3Binary is the S3 server's executable in ToolsBinDir().
const S3Binary = "versitygw"

// Defaults of StartS3: one bucket, one root user, versitygw's default region.
const (
	S3Bucket    = "flink"
	S3AccessKey = "acctest-access-key"
	S3SecretKey = "acctest-secret-key-0123456789"
	S3Region    = "us-east-1"
	// S3Profile is the profile of S3Server.CredentialsFile.
	S3Profile = "flink-acctest"
)

// S3Server is a running S3-compatible server on 127.0.0.1 with one bucket.
type S3Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:<port> (no TLS).
	Endpoint string
	// Bucket exists and is empty when StartS3 returns.
	Bucket string
	// AccessKey and SecretKey are the root user's credentials; Region is the region the
	// server signs for (a client must sign for it too).
	AccessKey, SecretKey, Region string
	// Dir holds the server's data (Dir/data/<bucket>/<key>: objects are plain files),
	// its log (versitygw.log) and CredentialsFile.
	Dir string
	// CredentialsFile is an AWS shared credentials file with the credentials under
	// S3Profile, for clients that take a profile (AWS_SHARED_CREDENTIALS_FILE).
	CredentialsFile string
	// StartTime is how long StartS3 took until the server answered.
	StartTime time.Duration

	proc *process
}

// StartS3 starts versitygw (from ToolsBinDir()) on a free port of host (127.0.0.1 when empty;
// the real node's address, where its pods reach it) with its data in dir (created if
// missing), and creates the bucket S3Bucket. Stop stops it; dir is left to the caller.
func StartS3(ctx context.Context, dir, host string) (*S3Server, error) {
	if host == "" {
		host = "127.0.0.1"
	}
	t0 := time.Now()
	bin := filepath.Join(ToolsBinDir(), S3Binary)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("acctest: %s not found in %s: build the test binaries with tools/install.sh (make tools), or point FLINK_TOOLS_BIN at them", S3Binary, ToolsBinDir())
	}
	s := &S3Server{Bucket: S3Bucket, AccessKey: S3AccessKey, SecretKey: S3SecretKey, Region: S3Region, Dir: dir}
	data := filepath.Join(dir, "data")
	// The posix backend serves every directory under its root as a bucket; one made before
	// it starts is a bucket of the root user (single-account mode, no IAM).
	if err := os.MkdirAll(filepath.Join(data, s.Bucket), 0o755); err != nil {
		return nil, fmt.Errorf("acctest: S3 server data directory: %w", err)
	}
	s.CredentialsFile = filepath.Join(dir, "credentials")
	creds := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", S3Profile, s.AccessKey, s.SecretKey)
	if err := os.WriteFile(s.CredentialsFile, []byte(creds), 0o600); err != nil {
		return nil, fmt.Errorf("acctest: S3 credentials file: %w", err)
	}
	// The port is free when chosen, not necessarily when the server binds it: try again
	// when the server exits at once.
	var lastErr error
	for range 3 {
		port, err := freePort(host)
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		s.Endpoint = "http://" + addr
		args := []string{
			"--port", addr,
			"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--quiet", // no line per request on stdout
			"posix", data,
		}
		s.proc, err = startProcess(bin, args, filepath.Join(dir, "versitygw.log"))
		if err != nil {
			return nil, fmt.Errorf("acctest: start %s: %w", S3Binary, err)
		}
		if lastErr = s.waitReady(ctx); lastErr == nil {
			s.StartTime = time.Since(t0)
			return s, nil
		}
		_ = s.proc.stop(5 * time.Second) // the readiness error is the one to report
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// waitReady waits until the server answers HTTP (any status: an unsigned request is refused).
func (s *S3Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		if err != nil {
			return err
		}
		if resp, err := directClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close() // drained; only the answer matters
			return nil
		}
		select {
		case <-s.proc.done:
			return fmt.Errorf("acctest: %s exited before it answered at %s: %v\n--- %s (tail) ---\n%s",
				S3Binary, s.Endpoint, s.proc.err, s.proc.logPath, tailFile(s.proc.logPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("acctest: %s did not answer at %s: %w\n--- %s (tail) ---\n%s",
				S3Binary, s.Endpoint, ctx.Err(), s.proc.logPath, tailFile(s.proc.logPath, 20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the server (SIGTERM, SIGKILL after 10s). Its data stays in Dir.
func (s *S3Server) Stop() error {
	if s == nil || s.proc == nil {
		return nil
	}
	err := s.proc.stop(10 * time.Second)
	s.proc = nil
	return err
}

// LogPath is the server's log.
func (s *S3Server) LogPath() string { return filepath.Join(s.Dir, "versitygw.log") }

// FlinkPath is the s3:// URL Flink writes under for prefix, s3://<bucket>/<prefix>.
func (s *S3Server) FlinkPath(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return "s3://" + s.Bucket
	}
	return "s3://" + s.Bucket + "/" + prefix
}

// ObjectPath is where the server keeps the object key of the bucket on disk.
func (s *S3Server) ObjectPath(key string) string {
	return filepath.Join(s.Dir, "data", s.Bucket, filepath.FromSlash(key))
}

// FlinkConfig is the Flink configuration that makes Flink's S3 filesystem plugin (presto or
// hadoop, tools/flink.sh) use this server for s3:// paths. Both plugins read the s3.* keys
// (presto as presto.s3.*, hadoop as fs.s3a.*): the endpoint with its http:// scheme, path-style
// requests (no <bucket>.127.0.0.1 host names), the static credentials, no TLS
// (s3.ssl.enabled is presto's, s3.connection.ssl.enabled hadoop's) and the region the server
// signs for (hadoop's fs.s3a.endpoint.region; presto signs for us-east-1 on any endpoint that
// is not AWS's). Keys a plugin does not know are ignored, so one map serves both.
func (s *S3Server) FlinkConfig() map[string]string {
	return map[string]string{
		"s3.endpoint":               s.Endpoint,
		"s3.path.style.access":      "true",
		"s3.access-key":             s.AccessKey,
		"s3.secret-key":             s.SecretKey,
		"s3.ssl.enabled":            "false",
		"s3.connection.ssl.enabled": "false",
		"s3.endpoint.region":        s.Region,
		// hadoop (S3A 3.3): keep the directory marker objects ("dir/") of a file's parents
		// instead of deleting them after every write. The posix backend keeps "dir/" as the
		// directory itself and refuses to delete it while it holds files (ErrDirectoryNotEmpty),
		// which S3A retries for minutes: without this Flink 2.1 took 4 minutes to start the
		// job and a savepoint did not complete in 8.
		"s3.directory.marker.retention": "keep",
	}
}

// BlobURL is the gocloud.dev s3blob URL of prefix in the bucket, a snapshot_storage_url
// (snapshots.Open) for the provider:
//
//	s3://<bucket>/<prefix>?endpoint=http%3A%2F%2F127.0.0.1%3A<port>&region=us-east-1&use_path_style=true
//
// The endpoint's http:// scheme is what turns TLS off (no disable_https needed), and
// use_path_style keeps the bucket in the path. The URL carries no credentials: the AWS SDK's
// default chain finds them, so set Env() in the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY), or add profile=S3Profile to the URL with
// AWS_SHARED_CREDENTIALS_FILE=CredentialsFile (a profile named in the URL wins over
// credentials in the environment).
func (s *S3Server) BlobURL(prefix string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", s.Region)
	q.Set("use_path_style", "true")
	u := url.URL{Scheme: "s3", Host: s.Bucket, RawQuery: q.Encode()}
	if p := strings.Trim(prefix, "/"); p != "" {
		u.Path = "/" + p
	}
	return u.String()
}

// Env is the environment that gives the AWS SDK's default credential chain (gocloud.dev's
// s3blob, the provider) this server's credentials: the static keys, and empty AWS_PROFILE and
// AWS_SESSION_TOKEN so that a profile or session token of the surrounding environment does
// not override or spoil them.
func (s *S3Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     s.AccessKey,
		"AWS_SECRET_ACCESS_KEY": s.SecretKey,
		"AWS_SESSION_TOKEN":     "",
		"AWS_PROFILE":           "",
	}
}
