package flinktest

import (
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

type faultRule struct {
	method    string // "" matches every method
	prefix    string
	status    int // 0 = abort the connection
	remaining int // < 0 = unlimited
}

// FailNext makes the next `times` requests whose method equals method ("" or "*" for any)
// and whose path starts with pathPrefix answer `status` with a Flink-style errors body.
// times < 0 fails every matching request until Clear; times == 0 does nothing. Paths are
// matched after the service-proxy prefix, if any, was removed, e.g. "/jobs/".
func (f *Faults) FailNext(method, pathPrefix string, status int, times int) {
	f.add(method, pathPrefix, status, times)
}

// AbortNext makes the next `times` matching requests (see FailNext) drop the connection
// without an answer, as a crashing JobManager or a broken proxy would: clients see a
// connection reset or an unexpected EOF.
func (f *Faults) AbortNext(method, pathPrefix string, times int) {
	f.add(method, pathPrefix, 0, times)
}

func (f *Faults) add(method, pathPrefix string, status, times int) {
	if times == 0 {
		return
	}
	if method == "*" {
		method = ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &faultRule{method: strings.ToUpper(method), prefix: pathPrefix, status: status, remaining: times})
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

// take consumes the first rule matching the request. ok reports whether one matched;
// status 0 means abort.
func (f *Faults) take(method, path string) (status int, ok bool) {
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
		return r.status, true
	}
	return 0, false
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
func injectedErrors(status int, path string) []string {
	switch status {
	case http.StatusServiceUnavailable:
		return []string{"Service temporarily unavailable due to an ongoing leader election. Please refresh."}
	case http.StatusInternalServerError:
		return []string{"Internal server error.", serverSideException(
			"java.lang.RuntimeException: flinktest: injected failure for " + path)}
	case http.StatusNotFound:
		return []string{"Not found: " + path}
	default:
		return []string{"flinktest: injected failure: " + http.StatusText(status)}
	}
}
