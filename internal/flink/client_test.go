package flink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

const jobID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startCluster serves an emulated cluster over a real HTTP server and returns a client for it.
func startCluster(t *testing.T, spec flinktest.JobSpec) (*flinktest.Cluster, *Client) {
	t.Helper()
	if spec.JobID == "" {
		spec.JobID = jobID
	}
	c := flinktest.NewCluster(spec)
	srv := httptest.NewServer(c)
	t.Cleanup(func() { srv.Close(); c.Close() })
	return c, New("ns/app", srv.URL, srv.Client())
}

func waitHealthy(t *testing.T, ctx context.Context, c *Client) JobDetails {
	t.Helper()
	var job JobDetails
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		var err error
		job, err = c.Job(ctx, jobID)
		return err == nil && JobHealthy(job), err
	}, IsRetryable)
	if err != nil {
		t.Fatalf("job never became healthy: %v (last: %+v)", err, job)
	}
	return job
}

func TestTypedReadsAgainstEmulator(t *testing.T) {
	for _, version := range []string{"1.18.1", "1.20.1", "2.1.0"} {
		t.Run(version, func(t *testing.T) {
			ctx := testContext(t)
			cluster, c := startCluster(t, flinktest.JobSpec{
				FlinkVersion: version, JobName: "fraud-detector", Parallelism: 2,
				RestorePath: "s3://bucket/savepoints/savepoint-a1b2c3-0123456789ab",
				Config: map[string]string{
					"taskmanager.numberOfTaskSlots":  "2",
					"pipeline.global-job-parameters": "env:prod",
				},
			})
			cluster.SetTaskManagers(1, 2)
			job := waitHealthy(t, ctx, c)

			wantType := "STREAMING"
			if version == "1.18.1" {
				wantType = "" // Flink reports job-type from 1.20 on
			}
			if job.JID != jobID || job.Name != "fraud-detector" || job.State != JobRunning || job.JobType != wantType || job.EndTime != -1 {
				t.Errorf("Job = %+v", job)
			}
			if len(job.Vertices) != 3 || job.Vertices[0].Name != "Source" || job.Vertices[2].Parallelism != 2 || job.Vertices[1].Tasks[TaskRunning] != 2 {
				t.Errorf("vertices = %+v", job.Vertices)
			}
			if job.StatusCounts[TaskRunning] != 3 || job.Timestamps[JobRunning] < job.Timestamps[JobInitializing] || job.Timestamps[JobFailed] != 0 {
				t.Errorf("status-counts %v, timestamps %v", job.StatusCounts, job.Timestamps)
			}

			cfg, err := c.Config(ctx)
			if err != nil || cfg.FlinkVersion != version || !regexp.MustCompile(`^[0-9a-f]{7} @ `).MatchString(cfg.FlinkRevision) || cfg.Features.WebSubmit {
				t.Errorf("Config = %+v, %v", cfg, err)
			}

			ov, err := c.Overview(ctx)
			want := ClusterOverview{TaskManagers: 1, SlotsTotal: 2, SlotsAvailable: 0, JobsRunning: 1, FlinkVersion: version, FlinkCommit: ov.FlinkCommit}
			if err != nil || ov != want || len(ov.FlinkCommit) != 7 {
				t.Errorf("Overview = %+v, %v; want %+v", ov, err, want)
			}

			jc, err := c.JobConfig(ctx, jobID)
			if err != nil || jc.JID != jobID || jc.ExecutionConfig.JobParallelism != 2 || jc.ExecutionConfig.UserConfig["env"] != "prod" {
				t.Errorf("JobConfig = %+v, %v", jc, err)
			}

			jmc, err := c.JobManagerConfig(ctx)
			restoreKey := "execution.savepoint.path" // Flink 2 reports execution.state-recovery.path
			if strings.HasPrefix(version, "2.") {
				restoreKey = "execution.state-recovery.path"
			}
			if err != nil || jmc["taskmanager.numberOfTaskSlots"] != "2" || jmc[restoreKey] != "s3://bucket/savepoints/savepoint-a1b2c3-0123456789ab" {
				t.Errorf("JobManagerConfig = %v, %v", jmc, err)
			}

			cps, err := c.Checkpoints(ctx, jobID)
			if err != nil || cps.Counts.Restored != 1 || cps.Latest.Restored == nil || !cps.Latest.Restored.IsSavepoint ||
				cps.Latest.Restored.ExternalPath != "s3://bucket/savepoints/savepoint-a1b2c3-0123456789ab" || cps.Latest.Completed != nil {
				t.Errorf("Checkpoints = %+v, %v", cps, err)
			}

			ex, err := c.JobExceptions(ctx, jobID)
			if err != nil || ex.RootException != "" || len(ex.History.Entries) != 0 {
				t.Errorf("JobExceptions of a healthy job = %+v, %v", ex, err)
			}
			cluster.Fail("kafka broker unreachable")
			ex, err = c.JobExceptions(ctx, jobID)
			if err != nil || !strings.HasPrefix(ex.RootException, "java.lang.RuntimeException: kafka broker unreachable") || ex.Timestamp <= 0 ||
				len(ex.History.Entries) != 1 || ex.History.Entries[0].Message() != "java.lang.RuntimeException: kafka broker unreachable" ||
				ex.History.Entries[0].TaskName == "" {
				t.Errorf("JobExceptions after failure = %+v, %v", ex, err)
			}
			job, err = c.Job(ctx, jobID)
			if err != nil || job.State != JobFailed || job.EndTime <= 0 || JobHealthy(job) {
				t.Errorf("Job after failure = %+v, %v", job, err)
			}
		})
	}
}

func TestBaseURLPathPrefixIsKept(t *testing.T) {
	ctx := testContext(t)
	e := flinktest.New()
	t.Cleanup(e.Close)
	e.Start("fraud-rest.payments.svc", flinktest.JobSpec{JobID: jobID, JobName: "fraud"})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	var seen []string
	hc := srv.Client()
	inner := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		return inner.RoundTrip(r)
	})
	for _, base := range []string{
		srv.URL + "/api/v1/namespaces/payments/services/fraud-rest:rest/proxy",
		srv.URL + "/api/v1/namespaces/payments/services/fraud-rest:rest/proxy/",
	} {
		seen = nil
		c := New("payments/fraud", base, hc)
		job, err := c.Job(ctx, jobID)
		if err != nil || job.Name != "fraud" {
			t.Fatalf("Job via %s = %+v, %v", base, job, err)
		}
		if err := c.CancelJob(ctx, jobID); err != nil {
			t.Fatalf("CancelJob via %s: %v", base, err)
		}
		want := []string{
			"/api/v1/namespaces/payments/services/fraud-rest:rest/proxy/jobs/" + jobID + "?",
			"/api/v1/namespaces/payments/services/fraud-rest:rest/proxy/jobs/" + jobID + "?mode=cancel",
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("paths sent = %v, want %v", seen, want)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestInProcessTransport(t *testing.T) {
	ctx := testContext(t)
	e := flinktest.New()
	t.Cleanup(e.Close)
	e.Start("orders-rest.shop.svc", flinktest.JobSpec{JobID: jobID, FlinkVersion: "2.1.0"})
	c := New("shop/orders", "http://orders-rest.shop.svc:8081", e.HTTPClient())
	cfg, err := c.Config(ctx)
	if err != nil || cfg.FlinkVersion != "2.1.0" {
		t.Fatalf("Config = %+v, %v", cfg, err)
	}
	_, err = New("shop/gone", "http://gone-rest.shop.svc:8081", e.HTTPClient()).Overview(ctx)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway || !IsRetryable(err) ||
		err.Error() != `flink cluster shop/gone: GET /overview: 502 Bad Gateway: flinktest: no Flink cluster is serving host "gone-rest.shop.svc"` {
		t.Errorf("unknown host: %v", err)
	}
}

func TestSavepointLifecycle(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{SavepointDir: "s3://bucket/savepoints"})
	waitHealthy(t, ctx, c)
	var metadata []string
	cluster.OnSavepoint(func(path string) error { metadata = append(metadata, path+"/_metadata"); return nil })

	trigger, err := c.TriggerSavepoint(ctx, jobID, SavepointRequest{FormatType: FormatCanonical})
	if err != nil || len(trigger) != 32 {
		t.Fatalf("TriggerSavepoint = %q, %v", trigger, err)
	}
	op, err := c.SavepointStatus(ctx, jobID, trigger)
	if err != nil || op.Status != OperationInProgress || op.Completed() {
		t.Errorf("status right after trigger = %+v, %v", op, err)
	}
	location, err := WaitForSavepoint(ctx, c, jobID, trigger)
	if err != nil || !regexp.MustCompile(`^s3://bucket/savepoints/savepoint-a1b2c3-[0-9a-f]{12}$`).MatchString(location) {
		t.Fatalf("WaitForSavepoint = %q, %v", location, err)
	}
	if len(metadata) != 1 || metadata[0] != location+"/_metadata" {
		t.Errorf("hook wrote %v", metadata)
	}
	cps, err := c.Checkpoints(ctx, jobID)
	if err != nil || cps.Latest.Savepoint == nil || cps.Latest.Savepoint.ExternalPath != location || !cps.Latest.Savepoint.IsSavepoint || cps.Counts.Completed != 1 {
		t.Errorf("Checkpoints after savepoint = %+v, %v", cps, err)
	}

	// A retried trigger with the same id is the same operation.
	again, err := c.TriggerSavepoint(ctx, jobID, SavepointRequest{TriggerID: trigger})
	if err != nil || again != trigger || len(cluster.Savepoints()) != 1 {
		t.Errorf("re-trigger = %q, %v; savepoints %v", again, err, cluster.Savepoints())
	}

	stop, err := c.StopWithSavepoint(ctx, jobID, StopRequest{TargetDirectory: "s3://bucket/final", Drain: true})
	if err != nil {
		t.Fatal(err)
	}
	final, err := WaitForSavepoint(ctx, c, jobID, stop)
	if err != nil || !strings.HasPrefix(final, "s3://bucket/final/savepoint-a1b2c3-") {
		t.Fatalf("stop savepoint = %q, %v", final, err)
	}
	job, err := c.Job(ctx, jobID)
	if err != nil || job.State != JobFinished || !IsGloballyTerminal(job.State) {
		t.Errorf("job after stop = %s, %v", job.State, err)
	}
	err = c.CancelJob(ctx, jobID)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict || IsRetryable(err) ||
		!strings.Contains(err.Error(), "409 Conflict: Job cancellation failed because the job has already reached another terminal state (FINISHED).") {
		t.Errorf("cancel of finished job: %v", err)
	}

}

func TestSavepointErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    flinktest.JobSpec
		setup   func(*flinktest.Cluster)
		req     SavepointRequest
		wantErr string
		check   func(t *testing.T, err error)
	}{
		{
			name:    "failure cause is reported",
			spec:    flinktest.JobSpec{SavepointDir: "s3://b"},
			setup:   func(c *flinktest.Cluster) { c.Faults().FailSavepoints("Access Denied (Service: S3)") },
			wantErr: "flink cluster ns/app: savepoint of job " + jobID + " (trigger ",
			check: func(t *testing.T, err error) {
				var opErr *OperationError
				if !errors.As(err, &opErr) || !strings.HasSuffix(err.Error(), "failed: java.io.IOException: Access Denied (Service: S3)") ||
					opErr.Cause.Class != "java.util.concurrent.CompletionException" {
					t.Errorf("error %v (%T)", err, err)
				}
			},
		},
		{
			name:    "no directory",
			spec:    flinktest.JobSpec{FlinkVersion: "1.19.1"},
			wantErr: "flink cluster ns/app: POST /jobs/" + jobID + "/savepoints: 400 Bad Request: Config key [state.savepoints.dir] is not set. Property [target-directory] must be provided.",
			check: func(t *testing.T, err error) {
				if IsRetryable(err) || IsNotFound(err) {
					t.Errorf("400 classified as retryable/not found")
				}
			},
		},
		{
			name:    "tasks not running",
			spec:    flinktest.JobSpec{SavepointDir: "s3://b", Parallelism: 4},
			setup:   func(c *flinktest.Cluster) { c.SetTaskManagers(1, 1) },
			wantErr: "Not all required tasks are currently running.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			cluster, c := startCluster(t, tt.spec)
			if tt.setup != nil {
				tt.setup(cluster)
			}
			_ = wait.Until(ctx, func(ctx context.Context) (bool, error) {
				job, err := c.Job(ctx, jobID)
				return err == nil && job.State == JobRunning && job.Vertices[0].Status != TaskDeploying, err
			}, IsRetryable)
			trigger, err := c.TriggerSavepoint(ctx, jobID, tt.req)
			if err == nil {
				_, err = WaitForSavepoint(ctx, c, jobID, trigger)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestCancelJob(t *testing.T) {
	ctx := testContext(t)
	_, c := startCluster(t, flinktest.JobSpec{})
	waitHealthy(t, ctx, c)
	if err := c.CancelJob(ctx, jobID); err != nil {
		t.Fatal(err)
	}
	if job, err := WaitJobEnded(ctx, c, jobID); err != nil || job.State != JobCanceled {
		t.Fatalf("WaitJobEnded = %s, %v; want CANCELED", job.State, err)
	}
	if job, err := c.Job(ctx, jobID); err != nil || job.State != JobCanceled || job.EndTime <= 0 {
		t.Errorf("Job after cancel = %+v, %v", job, err)
	}
	if err := c.CancelJob(ctx, jobID); err != nil {
		t.Errorf("cancelling a CANCELED job again: %v", err)
	}
	err := c.CancelJob(ctx, "00000000000000000000000000000000")
	if !IsNotFound(err) || err.Error() != "flink cluster ns/app: PATCH /jobs/00000000000000000000000000000000: 404 Not Found: Job could not be found." {
		t.Errorf("cancel unknown job: %v", err)
	}
}

func TestResourceRequirements(t *testing.T) {
	ctx := testContext(t)
	t.Run("adaptive", func(t *testing.T) {
		cluster, c := startCluster(t, flinktest.JobSpec{Parallelism: 2, Config: map[string]string{"jobmanager.scheduler": "adaptive"}})
		cluster.SetTaskManagers(2, 2)
		waitHealthy(t, ctx, c)
		req, err := c.ResourceRequirements(ctx, jobID)
		if err != nil || len(req) != 3 {
			t.Fatalf("ResourceRequirements = %v, %v", req, err)
		}
		for _, id := range req.VertexIDs() {
			if req[id].Parallelism != (Parallelism{LowerBound: 1, UpperBound: 2}) {
				t.Errorf("vertex %s: %+v", id, req[id])
			}
			req[id] = VertexResourceRequirements{Parallelism{LowerBound: 1, UpperBound: 4}}
		}
		if err := c.SetResourceRequirements(ctx, jobID, req); err != nil {
			t.Fatal(err)
		}
		job := waitHealthy(t, ctx, c)
		for _, v := range job.Vertices {
			if v.Parallelism != 4 {
				t.Errorf("vertex %s parallelism %d after rescale, want 4", v.Name, v.Parallelism)
			}
		}
		err = c.SetResourceRequirements(ctx, jobID, ResourceRequirements{})
		if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "400 Bad Request: Request body does not specify resource requirements.") {
			t.Errorf("empty requirements: %v", err)
		}
	})
	t.Run("default scheduler", func(t *testing.T) {
		_, c := startCluster(t, flinktest.JobSpec{})
		waitHealthy(t, ctx, c)
		_, err := c.ResourceRequirements(ctx, jobID)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || IsRetryable(err) || IsNotFound(err) ||
			!strings.Contains(err.Error(), "500 Internal Server Error: java.lang.UnsupportedOperationException: The DefaultScheduler does not support") {
			t.Errorf("ResourceRequirements on default scheduler: %v", err)
		}
	})
}

func TestErrorShapes(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantErr       string
		wantNotFound  bool
		wantRetryable bool
	}{
		{
			name: "flink 404", status: 404, body: `{"errors":["Job abc not found"]}`,
			wantErr:      "flink cluster ns/app: GET /jobs/abc: 404 Not Found: Job abc not found",
			wantNotFound: true,
		},
		{
			name: "flink 404 with stack trace", status: 404,
			body:         `{"errors":["org.apache.flink.runtime.rest.NotFoundException: Job abc not found\n\tat org.apache.flink.Foo(Foo.java:1)\nCaused by: x"]}`,
			wantErr:      "flink cluster ns/app: GET /jobs/abc: 404 Not Found: Job abc not found",
			wantNotFound: true,
		},
		{
			name: "flink 500", status: 500,
			body:          `{"errors":["Internal server error.","<Exception on server side:\njava.util.concurrent.CompletionException: java.lang.IllegalStateException: oops\n\tat x\n\nEnd of exception on server side>"]}`,
			wantErr:       "flink cluster ns/app: GET /jobs/abc: 500 Internal Server Error: java.lang.IllegalStateException: oops",
			wantRetryable: true,
		},
		{
			name: "job gone behind a 500", status: 500,
			body:         `{"errors":["Internal server error.","<Exception on server side:\norg.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (abc)\n\tat x\nEnd of exception on server side>"]}`,
			wantErr:      "flink cluster ns/app: GET /jobs/abc: 500 Internal Server Error: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (abc)",
			wantNotFound: true,
		},
		{
			name: "leader election", status: 503,
			body:          `{"errors":["Service temporarily unavailable due to an ongoing leader election. Please refresh."]}`,
			wantErr:       "flink cluster ns/app: GET /jobs/abc: 503 Service Unavailable: Service temporarily unavailable due to an ongoing leader election. Please refresh.",
			wantRetryable: true,
		},
		{
			name: "kubernetes proxy status", status: 503,
			body:          `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"app-rest:rest\"","reason":"ServiceUnavailable","code":503}`,
			wantErr:       `flink cluster ns/app: GET /jobs/abc: 503 Service Unavailable from the Kubernetes API server: no endpoints available for service "app-rest:rest"`,
			wantRetryable: true,
		},
		{name: "too many requests", status: 429, body: "slow down", wantErr: `flink cluster ns/app: GET /jobs/abc: 429 Too Many Requests from something that is not Flink's REST API (body: "slow down")`, wantRetryable: true},
		{name: "empty body", status: 400, body: "", wantErr: "flink cluster ns/app: GET /jobs/abc: 400 Bad Request from something that is not Flink's REST API (empty body)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/jobs/abc" || r.Header.Get("Accept") != "application/json" {
					t.Errorf("request %s %s Accept=%q", r.Method, r.URL.Path, r.Header.Get("Accept"))
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			_, err := New("ns/app", srv.URL, srv.Client()).Job(testContext(t), "abc")
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || apiErr.Path != "/jobs/abc" || apiErr.Method != "GET" {
				t.Fatalf("error %v (%T)", err, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Error() =\n  %s\nwant\n  %s", err, tt.wantErr)
			}
			if IsNotFound(err) != tt.wantNotFound || IsRetryable(err) != tt.wantRetryable {
				t.Errorf("IsNotFound=%v IsRetryable=%v, want %v %v", IsNotFound(err), IsRetryable(err), tt.wantNotFound, tt.wantRetryable)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	ctx := testContext(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = New("ns/app", "http://"+addr, nil).Overview(ctx)
	var te *TransportError
	if !errors.As(err, &te) || !IsRetryable(err) || IsNotFound(err) ||
		!strings.HasPrefix(err.Error(), "flink cluster ns/app: GET /overview: dial tcp "+addr+": ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("connection refused: %v (%T)", err, err)
	}

	cluster, c := startCluster(t, flinktest.JobSpec{})
	cluster.Faults().AbortNext("GET", "/overview", 1)
	_, err = c.Overview(ctx)
	if !errors.As(err, &te) || !IsRetryable(err) {
		t.Errorf("dropped connection: %v (%T), retryable=%v", err, err, IsRetryable(err))
	}

	cluster.Faults().Latency(time.Second)
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = c.Overview(short)
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) {
		t.Errorf("timeout: %v", err)
	}
	cancelled, cancelNow := context.WithCancel(ctx)
	cancelNow()
	_, err = c.Overview(cancelled)
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("cancelled: %v", err)
	}

	_, err = New("ns/app", "not a url", nil).Overview(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "flink cluster ns/app: GET /overview: invalid base URL") {
		t.Errorf("bad base URL: %v", err)
	}
}

func TestIsRetryable(t *testing.T) {
	api := func(status int, msgs ...string) error {
		return &APIError{Cluster: "c", StatusCode: status, Messages: msgs}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"400", api(400), false},
		{"404", api(404), false},
		{"408", api(408), true},
		{"409", api(409), false},
		{"429", api(429), true},
		{"500", api(500, "Internal server error."), true},
		{"500 unsupported", api(500, "Internal server error.", "<Exception on server side:\njava.lang.UnsupportedOperationException: no"), false},
		{"501", api(501), false},
		{"502", api(502), true},
		{"503", api(503), true},
		{"504", api(504), true},
		{"canceled", &TransportError{Err: context.Canceled}, false},
		{"deadline", &TransportError{Err: context.DeadlineExceeded}, true},
		{"reset", &TransportError{Err: &net.OpError{Op: "read", Err: errors.New("x")}}, false},
		{"dial", &TransportError{Err: &net.OpError{Op: "dial", Err: errors.New("no route")}}, true},
		{"wrapped api error", fmt.Errorf("outer: %w", api(503)), true},
		{"plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFailureCauseSummary(t *testing.T) {
	tests := []struct {
		cause FailureCause
		want  string
	}{
		{FailureCause{Class: "java.util.concurrent.CompletionException", StackTrace: "java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.CheckpointException: Failure to finalize checkpoint.\n\tat a\nCaused by: org.apache.flink.runtime.checkpoint.CheckpointException: Failure to finalize checkpoint.\n\tat b\nCaused by: java.io.IOException: disk full\n\t... 3 more"}, "java.io.IOException: disk full"},
		{FailureCause{StackTrace: "java.util.concurrent.CompletionException: org.apache.flink.FooException: bar\n\tat a"}, "org.apache.flink.FooException: bar"},
		{FailureCause{Class: "org.apache.flink.FooException"}, "org.apache.flink.FooException"},
		{FailureCause{}, "unknown failure"},
	}
	for _, tt := range tests {
		if got := tt.cause.Summary(); got != tt.want {
			t.Errorf("Summary() = %q, want %q", got, tt.want)
		}
	}
}
