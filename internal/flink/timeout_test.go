package flink

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// neverAnswers is a JobManager that accepts requests and never answers them.
func neverAnswers(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	return srv
}

func TestRequestTimeoutEndsARequestTheJobManagerNeverAnswers(t *testing.T) {
	srv := neverAnswers(t)
	c := New("ns/app", srv.URL, srv.Client(), WithRequestTimeout(100*time.Millisecond))
	start := time.Now()
	_, err := c.Overview(testContext(t))
	if d := time.Since(start); d < 90*time.Millisecond || d > 3*time.Second {
		t.Errorf("request ended after %v, want after the 100ms request timeout", d)
	}
	var te *TransportError
	var timeout *RequestTimeoutError
	if !errors.As(err, &te) || !errors.As(err, &timeout) || timeout.After != 100*time.Millisecond {
		t.Fatalf("error %v (%T), want a *TransportError carrying a *RequestTimeoutError", err, err)
	}
	if !IsRetryable(err) || IsNotFound(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("IsRetryable=%v IsNotFound=%v Is(DeadlineExceeded)=%v, want true false true",
			IsRetryable(err), IsNotFound(err), errors.Is(err, context.DeadlineExceeded))
	}
	want := "flink cluster ns/app: GET /overview: no answer within 100ms from the JobManager; it may be overloaded or stuck"
	if err.Error() != want {
		t.Errorf("Error() =\n  %s\nwant\n  %s", err, want)
	}
}

// A JobManager that sends the headers and then stalls does not hang the caller either.
func TestRequestTimeoutAlsoBoundsReadingTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"taskmanagers":`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := New("ns/app", srv.URL, srv.Client(), WithRequestTimeout(100*time.Millisecond))
	_, err := c.Overview(testContext(t))
	var timeout *RequestTimeoutError
	if !errors.As(err, &timeout) || !IsRetryable(err) {
		t.Errorf("stalled answer: %v (%T), want a retryable *RequestTimeoutError", err, err)
	}
}

func TestRequestTimeoutDefaultsTo30Seconds(t *testing.T) {
	if got := New("ns/app", "http://app-rest.ns.svc:8081", nil).RequestTimeout(); got != 30*time.Second {
		t.Errorf("default request timeout %v, want 30s", got)
	}
	if got := New("ns/app", "http://app-rest.ns.svc:8081", nil, WithRequestTimeout(0)).RequestTimeout(); got != DefaultTimeout {
		t.Errorf("WithRequestTimeout(0): %v, want the default", got)
	}
	if got := New("ns/app", "http://app-rest.ns.svc:8081", nil, WithRequestTimeout(5*time.Second)).RequestTimeout(); got != 5*time.Second {
		t.Errorf("WithRequestTimeout(5s): %v", got)
	}
}

// The request timeout wins over a longer http.Client Timeout, and the caller's shorter
// context wins over the request timeout (and is not reported as a stuck JobManager).
func TestRequestTimeoutAndCallerContext(t *testing.T) {
	srv := neverAnswers(t)
	hc := srv.Client()
	hc.Timeout = time.Minute
	_, err := New("ns/app", srv.URL, hc, WithRequestTimeout(50*time.Millisecond)).Overview(testContext(t))
	var timeout *RequestTimeoutError
	if !errors.As(err, &timeout) {
		t.Errorf("with a 1m http.Client timeout: %v, want the 50ms request timeout", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = New("ns/app", srv.URL, srv.Client(), WithRequestTimeout(time.Minute)).Overview(ctx)
	if errors.As(err, &timeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller's deadline first: %v, want the context's deadline, not a request timeout", err)
	}
}

func TestWaitForRetriesRequestTimeouts(t *testing.T) {
	ctx := testContext(t)
	cluster := flinktest.NewCluster(flinktest.JobSpec{JobID: jobID})
	srv := httptest.NewServer(cluster)
	t.Cleanup(func() { srv.Close(); cluster.Close() })
	cluster.Faults().HangNext(http.MethodGet, "/overview", 2)
	c := New("ns/app", srv.URL, srv.Client(), WithRequestTimeout(50*time.Millisecond))

	var calls, timeouts atomic.Int32
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		calls.Add(1)
		_, err := c.Overview(ctx)
		var timeout *RequestTimeoutError
		if errors.As(err, &timeout) {
			timeouts.Add(1)
		}
		return err == nil, err
	}, IsRetryable)
	if err != nil {
		t.Fatalf("wait.Until: %v", err)
	}
	if calls.Load() != 3 || timeouts.Load() != 2 {
		t.Errorf("%d calls with %d request timeouts, want 3 and 2", calls.Load(), timeouts.Load())
	}
}

func TestCallerContextStillEndsWaitForWhileRequestsTimeOut(t *testing.T) {
	srv := neverAnswers(t)
	c := New("ns/app", srv.URL, srv.Client(), WithRequestTimeout(30*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		_, err := c.Overview(ctx)
		return err == nil, err
	}, IsRetryable)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("wait.Until returned after %v, want soon after its context's 300ms", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 30ms from the JobManager") {
		t.Errorf("wait.Until: %v, want the context's deadline with the last request timeout", err)
	}

	// A cancelled caller ends the wait at once, even mid-request.
	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, ccancel)
	slow := New("ns/app", srv.URL, srv.Client(), WithRequestTimeout(time.Minute))
	start = time.Now()
	err = wait.Until(cctx, func(ctx context.Context) (bool, error) {
		_, err := slow.Overview(ctx)
		return err == nil, err
	}, IsRetryable)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("wait.Until after cancel: %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}
