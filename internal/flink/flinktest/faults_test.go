package flinktest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRespondNextAnswersVerbatimLikeSomethingInFrontOfFlink(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	c.Faults().RespondNext(http.MethodGet, "/jobs/", http.StatusNotFound, "text/plain; charset=utf-8", IngressNotFound, 1)
	c.Faults().RespondNext("*", "/overview", http.StatusNotFound, "application/json", KubernetesServiceNotFound("app-rest"), 1)

	for _, tt := range []struct {
		path, wantType, wantBody string
	}{
		{"/jobs/" + testJobID, "text/plain; charset=utf-8", "404 page not found\n"},
		{"/overview", "application/json", `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"app-rest\" not found","reason":"NotFound","details":{"name":"app-rest","kind":"services"},"code":404}` + "\n"},
	} {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != tt.wantType || rec.Body.String() != tt.wantBody {
			t.Errorf("GET %s: %d %q %q, want 404 %q %q", tt.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), tt.wantType, tt.wantBody)
		}
	}
	// Each fault was used up: Flink answers again.
	for _, path := range []string{"/jobs/" + testJobID, "/overview"} {
		if code, _ := call(t, c, http.MethodGet, path, ""); code != http.StatusOK {
			t.Errorf("GET %s after the fault: %d, want 200", path, code)
		}
	}
}

func TestHangNextAnswersNothingUntilTheRequestContextEnds(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	hc := &http.Client{Transport: c.Transport()}
	c.Faults().HangNext(http.MethodGet, "/overview", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://app-rest.ns.svc:8081/overview", nil)
	start := time.Now()
	resp, err := hc.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("hung request answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung request: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d < 140*time.Millisecond || d > 2*time.Second {
		t.Errorf("hung request returned after %v, want when its context ended (150ms)", d)
	}

	// Only the one request hung; other paths were never affected.
	if code, _ := call(t, c, http.MethodGet, "/overview", ""); code != http.StatusOK {
		t.Errorf("GET /overview after the fault: %d, want 200", code)
	}
}

func TestHangNextHangsOverARealConnectionUntilTheClientGivesUp(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	srv := httptest.NewServer(c)
	defer srv.Close()
	c.Faults().HangNext("", "/config", 1)
	hc := srv.Client()
	hc.Timeout = 100 * time.Millisecond
	start := time.Now()
	if resp, err := hc.Get(srv.URL + "/config"); err == nil {
		resp.Body.Close()
		t.Fatalf("hung request answered %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("hung request failed after %v, before the client gave up", d)
	}
	resp, err := hc.Get(srv.URL + "/config")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("request after the fault: %v", err)
	}
	resp.Body.Close()
}

func TestHangNextDropsTheConnectionWhenTheClusterCloses(t *testing.T) {
	c := NewCluster(JobSpec{JobID: testJobID})
	hc := &http.Client{Transport: c.Transport()}
	c.Faults().HangNext(http.MethodGet, "/jobs/", -1)
	errc := make(chan error, 1)
	go func() {
		resp, err := hc.Get("http://app-rest.ns.svc:8081/jobs/" + testJobID)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("request returned before the cluster closed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("hung request after Close: %v, want connection reset", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hung request still hangs after the cluster closed")
	}
}

// An injected 404 is Flink's answer for a path it has no route for, never a job that is
// gone; JobNotFound is that answer, for RespondNext.
func TestInjected404IsFlinksRouteNotFound(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	c.Faults().FailNext(http.MethodGet, "/", http.StatusNotFound, 2)
	for _, path := range []string{"/jobs/" + testJobID, "/overview"} {
		code, body := call(t, c, http.MethodGet, path, "")
		want := "Unable to load requested file " + path + "."
		if errs := errorsOf(t, body); code != http.StatusNotFound || len(errs) != 1 || errs[0] != want {
			t.Errorf("GET %s: %d %q, want 404 %q", path, code, errs, want)
		}
	}
	c.Faults().RespondNext(http.MethodGet, "/jobs/", http.StatusNotFound, "application/json", JobNotFound(testJobID), 1)
	code, body := call(t, c, http.MethodGet, "/jobs/"+testJobID, "")
	want := "org.apache.flink.runtime.rest.NotFoundException: Job " + testJobID + " not found"
	if errs := errorsOf(t, body); code != http.StatusNotFound || len(errs) != 1 || !strings.HasPrefix(errs[0], want) {
		t.Errorf("JobNotFound answer: %d %q, want 404 starting %q", code, errs, want)
	}
}

func TestForgetOperationsDropsSavepointStatusLikeAnExpiredFlinkCache(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://b"})
	waitHealthy(t, c)
	const done, running = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	_, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{"triggerId":"`+done+`"}`)
	if body["request-id"] != done {
		t.Fatalf("trigger: %v", body)
	}
	waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+done)
	c.Faults().SlowSavepoints(100 * time.Millisecond)
	call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{"triggerId":"`+running+`"}`)

	c.ForgetOperations()

	for _, trigger := range []string{done, running} {
		code, body := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/savepoints/"+trigger, "")
		want := "org.apache.flink.runtime.rest.handler.RestHandlerException: There is no savepoint operation with triggerId=" + trigger + " for job " + testJobID + "."
		if errs := errorsOf(t, body); code != http.StatusNotFound || !strings.HasPrefix(errs[0], want) {
			t.Errorf("status of forgotten trigger %s: %d %q, want 404 %q", trigger, code, errs, want)
		}
	}
	// The savepoint that was in progress still completes; only its status is gone.
	eventually(t, "the forgotten in-progress savepoint completes", func() bool { return len(c.Savepoints()) == 2 })

	// Flink treats the forgotten trigger id as new: a repeated trigger starts another savepoint.
	c.Faults().SlowSavepoints(0)
	_, body = call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{"triggerId":"`+done+`"}`)
	if body["request-id"] != done {
		t.Fatalf("re-trigger: %v", body)
	}
	waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+done)
	if n := len(c.Savepoints()); n != 3 {
		t.Errorf("%d savepoints after re-triggering a forgotten id, want 3", n)
	}
}
