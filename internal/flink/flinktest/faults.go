package flinktest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults injects failures into one Cluster. It is safe for concurrent use.
type Faults struct {
	mu             sync.Mutex
	rules          []*faultRule
	latency        time.Duration
	savepointCause string
	savepointDelay time.Duration
	disposalCause  string
}

type faultKind int

const (
	faultFail    faultKind = iota // answer status with a Flink errors body
	faultAbort                    // drop the connection
	faultRespond                  // answer status, contentType and body verbatim
	faultHang                     // never answer until the request's context ends
)

type faultRule struct {
	kind        faultKind
	method      string // "" matches every method
	prefix      string
	status      int
	contentType string
	body        string
	remaining   int // < 0 = unlimited
}

// FailNext makes the next `times` requests whose method equals method ("" or "*" for any)
// and whose path starts with pathPrefix answer `status` with a Flink-style errors body.
// times < 0 fails every matching request until Clear; times == 0 does nothing. Paths are
// matched after the service-proxy prefix, if any, was removed, e.g. "/jobs/".
func (f *Faults) FailNext(method, pathPrefix string, status int, times int) {
	f.add(faultRule{kind: faultFail, method: method, prefix: pathPrefix, status: status, remaining: times})
}

// AbortNext makes the next `times` matching requests (see FailNext) drop the connection
// without an answer, as a crashing JobManager or a broken proxy would: clients see a
// connection reset or an unexpected EOF.
func (f *Faults) AbortNext(method, pathPrefix string, times int) {
	f.add(faultRule{kind: faultAbort, method: method, prefix: pathPrefix, remaining: times})
}

// Answers of things in front of Flink, for RespondNext.
const (
	// IngressNotFound is what Traefik (like any Go net/http server) answers, as text/plain,
	// for a host or path it has no route for.
	IngressNotFound = "404 page not found\n"
	// NginxNotFoundHTML is nginx's own 404 page.
	NginxNotFoundHTML = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

// JobNotFound is Flink's own answer (a 404 body) for a job its JobManager does not know.
func JobNotFound(jobID string) string {
	b, _ := json.Marshal(map[string][]string{"errors": {jobNotFound(jobID)}})
	return string(b)
}

// KubernetesServiceNotFound is the Kubernetes API server's answer (a v1 Status, 404) on the
// service proxy path of a Service that does not exist.
func KubernetesServiceNotFound(service string) string {
	return `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"` + service +
		`\" not found","reason":"NotFound","details":{"name":"` + service + `","kind":"services"},"code":404}` + "\n"
}

// RespondNext makes the next `times` matching requests (see FailNext) answer status with
// this Content-Type and body verbatim, as something in front of Flink would: an ingress's
// "404 page not found" (IngressNotFound), an HTML error page, the Kubernetes API server's
// Status (KubernetesServiceNotFound).
func (f *Faults) RespondNext(method, pathPrefix string, status int, contentType, body string, times int) {
	f.add(faultRule{kind: faultRespond, method: method, prefix: pathPrefix, status: status,
		contentType: contentType, body: body, remaining: times})
}

// HangNext makes the next `times` matching requests (see FailNext) get no answer at all
// until the request's context ends (the client gives up) or the cluster is closed (the
// connection is then dropped), as a JobManager stuck in a long GC pause would.
func (f *Faults) HangNext(method, pathPrefix string, times int) {
	f.add(faultRule{kind: faultHang, method: method, prefix: pathPrefix, remaining: times})
}

func (f *Faults) add(r faultRule) {
	if r.remaining == 0 {
		return
	}
	if r.method == "*" {
		r.method = ""
	}
	r.method = strings.ToUpper(r.method)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &r)
}

// FailSavepoints makes savepoint and stop-with-savepoint operations that complete from
// now on end FAILED with this cause. An empty cause turns the fault off.
func (f *Faults) FailSavepoints(cause string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.savepointCause = cause
}

// SlowSavepoints keeps savepoints triggered from now on IN_PROGRESS for d
// (0 restores the cluster's Timings.Savepoint).
func (f *Faults) SlowSavepoints(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.savepointDelay = d
}

// FailDisposals makes savepoint disposals that complete from now on end FAILED with this
// cause. An empty cause turns the fault off.
func (f *Faults) FailDisposals(cause string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disposalCause = cause
}

// Latency delays every answer by d (0 turns it off). The delay ends early when the
// request's context ends.
func (f *Faults) Latency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Clear removes every injected fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
	f.latency = 0
	f.savepointCause = ""
	f.savepointDelay = 0
	f.disposalCause = ""
}

// take consumes the first rule matching the request. ok reports whether one matched.
func (f *Faults) take(method, path string) (rule faultRule, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if (r.method != "" && r.method != method) || !strings.HasPrefix(path, r.prefix) {
			continue
		}
		if r.remaining > 0 {
			r.remaining--
			if r.remaining == 0 {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			}
		}
		return *r, true
	}
	return faultRule{}, false
}

func (f *Faults) currentLatency() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

func (f *Faults) savepointFault() (cause string, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.savepointCause, f.savepointDelay
}

func (f *Faults) disposalFault() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disposalCause
}

// injectedErrors is the errors body of an injected failure with the given status,
// worded like Flink's own answers where Flink has a typical one.
func injectedErrors(status int, method, path string) []string {
	switch status {
	case http.StatusServiceUnavailable:
		return []string{"Service temporarily unavailable due to an ongoing leader election. Please refresh."}
	case http.StatusInternalServerError:
		return []string{"Internal server error.", serverSideException(
			"java.lang.RuntimeException: flinktest: injected failure for " + path)}
	case http.StatusNotFound:
		// Flink's answer for a path it has no route for (a wrong base path): an injected 404
		// never says that a job is gone. Use RespondNext with JobNotFound for that.
		return []string{routeNotFound(method, path, path)}
	default:
		return []string{"flinktest: injected failure: " + http.StatusText(status)}
	}
}
