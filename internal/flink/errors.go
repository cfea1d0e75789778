package flink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// AnswerSource says what sent an error answer: Flink's REST API, the Kubernetes API server
// (its service proxy), or something else in front of Flink. Only Flink's own answers say
// anything about the job.
type AnswerSource int

const (
	// FromOther is an answer that is neither Flink's nor the Kubernetes API server's: an
	// ingress default backend, a load balancer, a proxy, a wrong host or port. It is the
	// zero value, so an APIError nobody classified never counts as Flink's word.
	FromOther AnswerSource = iota
	// FromFlink is Flink's own error body, {"errors":[...]}.
	FromFlink
	// FromKubernetesAPIServer is a Kubernetes Status object, e.g. the service proxy's
	// "services \"app-rest\" not found" or "no endpoints available for service".
	FromKubernetesAPIServer
)

// String names the source as Error() does.
func (s AnswerSource) String() string {
	switch s {
	case FromFlink:
		return "Flink's REST API"
	case FromKubernetesAPIServer:
		return "the Kubernetes API server"
	default:
		return "something that is not Flink's REST API"
	}
}

// rbacGuide documents the Role the provider needs (kube.RBACGuide).
const rbacGuide = "docs/guides/rbac.md"

// APIError is a non-2xx answer of the JobManager or of something in front of it (From says
// which).
type APIError struct {
	Cluster    string
	Method     string
	Path       string // the Flink path, e.g. "/jobs/<id>", without the base URL's prefix
	StatusCode int
	// From says what answered; see AnswerSource.
	From AnswerSource
	// ContentType is the answer's Content-Type header.
	ContentType string
	// Messages are the entries of Flink's {"errors":[...]} body, verbatim. Newer Flink
	// versions put whole stack traces there; Error() shows only their first lines. For a
	// Kubernetes Status it is the Status's message; for any other answer the body text
	// (whitespace collapsed, cut at 512 bytes).
	Messages []string
	// Hint is the next step Error() suggests when the answer shows that the REST URL does
	// not reach Flink's REST API (a 404 not from Flink, or a path Flink has no route for).
	Hint string
}

// Error reads like
// "flink cluster ns/app: GET /jobs/abc: 404 Not Found: Job abc not found" for Flink's own
// answers and like "flink cluster ns/app: GET /jobs/abc: 404 Not Found from something that
// is not Flink's REST API (body: "404 page not found"); check ..." for any other.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flink cluster %s: %s %s: %d", e.Cluster, e.Method, e.Path, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	summary := e.Summary()
	switch e.From {
	case FromFlink:
		if summary != "" {
			b.WriteString(": " + summary)
		}
		if e.routeNotFound() {
			b.WriteString("; Flink's REST API has no such path")
			e.writeHint(&b)
		}
		return b.String()
	case FromKubernetesAPIServer:
		b.WriteString(" from " + e.From.String())
		if summary != "" {
			b.WriteString(": " + summary)
		}
		if e.StatusCode == http.StatusForbidden {
			// The service proxy's authorizer: the Status names the verb on services/proxy.
			b.WriteString("; the provider's Kubernetes identity lacks this permission: give it the Role in " + rbacGuide)
		}
	default:
		b.WriteString(" from " + e.From.String())
		if summary == "" {
			b.WriteString(" (empty body)")
		} else {
			fmt.Fprintf(&b, " (body: %q)", summary)
		}
	}
	if e.StatusCode == http.StatusNotFound {
		e.writeHint(&b)
	}
	return b.String()
}

func (e *APIError) writeHint(b *strings.Builder) {
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
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

// RequestTimeoutError is a request that got no complete answer within the client's request
// timeout (WithRequestTimeout) while the caller's context was still live. It is retryable:
// a JobManager busy with a long GC pause or a leader change may answer the next request.
type RequestTimeoutError struct {
	After time.Duration
}

func (e *RequestTimeoutError) Error() string {
	return fmt.Sprintf("no answer within %s from the JobManager; it may be overloaded or stuck", e.After)
}

// Timeout marks the error as a timeout for net.Error-style checks.
func (e *RequestTimeoutError) Timeout() bool { return true }

// Unwrap lets errors.Is(err, context.DeadlineExceeded) hold, as for any other timeout.
func (e *RequestTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// notFoundMessages are Flink's words (checked against real Flink by the contract suite) for
// a job or an asynchronous operation it does not know: "Job <id> not found" (job handlers),
// "Could not find Flink job (<id>)" (FlinkJobNotFoundException), "Job could not be found."
// (cancellation), "There is no savepoint operation with triggerId=..." (an unknown or expired
// savepoint trigger) and "Operation not found under key: ..." (savepoint disposal).
var notFoundMessages = regexp.MustCompile(`\bJob \S+ not found\b|Could not find Flink job \(|FlinkJobNotFoundException|` +
	`Job could not be found\.|There is no savepoint operation with triggerId=|Operation not found under key`)

// routeNotFound reports Flink's answer for a path it has no REST handler for (a wrong base
// path, or a REST API of another Flink version): "Unable to load requested file /the/path."
// from the web UI's static files for a GET, "Not found: /the/path" for other methods.
func (e *APIError) routeNotFound() bool {
	if e.From != FromFlink || e.StatusCode != http.StatusNotFound || len(e.Messages) != 1 {
		return false
	}
	m := e.Messages[0]
	return strings.HasPrefix(m, "Not found: ") || strings.HasPrefix(m, "Unable to load requested file ")
}

// IsNotFound reports whether err is Flink's own word that the requested job or savepoint
// operation does not exist: a 404 whose Flink errors body names the missing job or
// operation, or the 500 that some Flink handlers (resource requirements) answer with a
// FlinkJobNotFoundException inside. A 404 from anything else (an ingress, the Kubernetes
// API server when the Service is missing, a wrong URL) and Flink's 404 for a path it has no
// route for say nothing about the job and are not IsNotFound.
func IsNotFound(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.From != FromFlink || apiErr.routeNotFound() {
		return false
	}
	switch apiErr.StatusCode {
	case http.StatusNotFound:
		for _, m := range apiErr.Messages {
			if notFoundMessages.MatchString(m) {
				return true
			}
		}
		return false
	case http.StatusInternalServerError:
		return apiErr.mentions("FlinkJobNotFoundException")
	}
	return false
}

// IsRetryable reports whether repeating the request may succeed: 5xx answers (except 501
// and 500s that carry a deterministic failure such as UnsupportedOperationException or
// FlinkJobNotFoundException), 408 and 429, refused, reset or dropped connections, and
// timeouts, the client's own request timeout (RequestTimeoutError) included. A cancelled
// context is not retryable.
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
	var timeout *RequestTimeoutError
	if errors.As(err, &timeout) {
		return true
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
