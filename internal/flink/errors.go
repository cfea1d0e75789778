package flink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
)

// APIError is a non-2xx answer of the JobManager (or of a proxy in front of it).
type APIError struct {
	Cluster    string
	Method     string
	Path       string // the Flink path, e.g. "/jobs/<id>", without the base URL's prefix
	StatusCode int
	// Messages are the entries of Flink's {"errors":[...]} body, verbatim. Newer Flink
	// versions put whole stack traces there; Error() shows only their first lines.
	Messages []string
}

// Error reads like
// "flink cluster ns/app: GET /jobs/abc: 404 Not Found: Job abc not found".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flink cluster %s: %s %s: %d", e.Cluster, e.Method, e.Path, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if summary := e.Summary(); summary != "" {
		b.WriteString(": " + summary)
	}
	return b.String()
}

// Summary condenses Messages to one line per message: the first line of each, without
// Flink's REST wrapper exception class names and without the generic
// "Internal server error." when a more specific message follows.
func (e *APIError) Summary() string {
	var parts []string
	for _, m := range e.Messages {
		if s := summarizeMessage(m); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 1 && parts[0] == "Internal server error." {
		parts = parts[1:]
	}
	return strings.Join(parts, "; ")
}

// mentions reports whether any message contains s.
func (e *APIError) mentions(s string) bool {
	for _, m := range e.Messages {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// wrapperPrefixes are exception class names that only wrap the interesting message.
var wrapperPrefixes = []string{
	"org.apache.flink.runtime.rest.handler.RestHandlerException: ",
	"org.apache.flink.runtime.rest.NotFoundException: ",
	"java.util.concurrent.CompletionException: ",
	"java.util.concurrent.ExecutionException: ",
}

func summarizeMessage(m string) string {
	m = strings.TrimSpace(m)
	if rest, ok := strings.CutPrefix(m, "<Exception on server side:"); ok {
		m = strings.TrimSpace(rest)
	}
	if i := strings.IndexAny(m, "\r\n"); i >= 0 {
		m = m[:i]
	}
	return stripWrappers(strings.TrimSpace(m))
}

func stripWrappers(s string) string {
	for changed := true; changed; {
		changed = false
		for _, p := range wrapperPrefixes {
			if rest, ok := strings.CutPrefix(s, p); ok && strings.TrimSpace(rest) != "" {
				s, changed = strings.TrimSpace(rest), true
			}
		}
	}
	return s
}

// TransportError is a request that got no HTTP answer: connection refused or reset,
// timeout, TLS failure, cancelled context, unusable base URL.
type TransportError struct {
	Cluster string
	Method  string
	Path    string
	Err     error
}

// Error reads like "flink cluster ns/app: GET /overview: dial tcp ...: connection refused".
func (e *TransportError) Error() string {
	return fmt.Sprintf("flink cluster %s: %s %s: %v", e.Cluster, e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsNotFound reports whether err says the requested job, savepoint operation or resource
// does not exist: a 404, or the 500 that some Flink handlers (resource requirements) answer
// with a FlinkJobNotFoundException inside. Note that Flink also answers 404 for a path it
// has no route for, e.g. when the base URL is wrong.
func IsNotFound(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	if apiErr.StatusCode == http.StatusNotFound {
		return true
	}
	return apiErr.StatusCode == http.StatusInternalServerError && apiErr.mentions("FlinkJobNotFoundException")
}

// IsRetryable reports whether repeating the request may succeed: 5xx answers (except 501
// and 500s that carry a deterministic failure such as UnsupportedOperationException or
// FlinkJobNotFoundException), 408 and 429, refused, reset or dropped connections, and
// timeouts. A cancelled context is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch code := apiErr.StatusCode; {
		case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
			return true
		case code == http.StatusNotImplemented:
			return false
		case code == http.StatusInternalServerError:
			return !apiErr.mentions("UnsupportedOperationException") && !apiErr.mentions("FlinkJobNotFoundException")
		default:
			return code >= 500 && code <= 599
		}
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	for _, target := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, io.EOF, io.ErrUnexpectedEOF,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	return false
}

// OperationError is an asynchronous Flink operation (savepoint, stop-with-savepoint,
// savepoint disposal) that completed with a failure cause.
type OperationError struct {
	Cluster   string
	Operation string // "savepoint", "savepoint disposal"
	JobID     string // empty for disposals
	TriggerID string
	Cause     FailureCause
}

// Error reads like "flink cluster ns/app: savepoint of job abc (trigger 123) failed:
// java.io.IOException: bucket unavailable".
func (e *OperationError) Error() string {
	subject := e.Operation
	if e.JobID != "" {
		subject += " of job " + e.JobID
	}
	return fmt.Sprintf("flink cluster %s: %s (trigger %s) failed: %s", e.Cluster, subject, e.TriggerID, e.Cause.Summary())
}
