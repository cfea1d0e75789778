package flink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// countCalls counts the refreshes of a status function.
func countCalls[T any](refresh wait.Refresh[T], calls *int) wait.Refresh[T] {
	return func(ctx context.Context) (T, string, error) {
		*calls++
		return refresh(ctx)
	}
}

func TestWaitJobRunningRetriesRetryableErrors(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{})
	cluster.Faults().FailNext(http.MethodGet, "/jobs/"+jobID, http.StatusServiceUnavailable, 2)
	calls := 0
	job, err := WaitJobRunning(ctx, countCalls(StatusJob(c, jobID), &calls), false)
	if err != nil || !JobHealthy(job) || calls < 3 {
		t.Errorf("WaitJobRunning = %+v, %v after %d calls, want a healthy job after at least 3", job, err, calls)
	}
}

func TestWaitJobRunningUnknownJob(t *testing.T) {
	ctx := testContext(t)
	_, c := startCluster(t, flinktest.JobSpec{})
	calls := 0
	_, err := WaitJobRunning(ctx, countCalls(StatusJob(c, "00000000000000000000000000000000"), &calls), false)
	var unexpected *wait.UnexpectedStateError
	if !errors.As(err, &unexpected) || unexpected.State != JobNotFound || calls != 1 {
		t.Errorf("WaitJobRunning(unknown job) = %v after %d calls, want state %s after 1", err, calls, JobNotFound)
	}

	// Unless an unknown job may still be submitted: then the wait goes on until ctx ends.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	_, err = WaitJobRunning(short, StatusJob(c, "00000000000000000000000000000000"), true)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "while in state "+JobNotFound) {
		t.Errorf("WaitJobRunning(unknown job, unknown is pending) = %v", err)
	}
}

func TestRequestCancelThenWaitJobEnded(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{})
	waitHealthy(t, ctx, c)
	cluster.Faults().FailNext(http.MethodPatch, "/jobs/"+jobID, http.StatusServiceUnavailable, 1)
	if err := RequestCancel(ctx, c, jobID); err != nil {
		t.Fatalf("RequestCancel after a 503: %v", err)
	}
	job, err := WaitJobEnded(ctx, c, jobID)
	if err != nil || job.State != JobCanceled {
		t.Fatalf("WaitJobEnded = %s, %v; want CANCELED", job.State, err)
	}
	// Nothing to cancel is no error, and an unknown job has ended as far as the wait goes.
	unknown := "00000000000000000000000000000000"
	if err := RequestCancel(ctx, c, unknown); err != nil {
		t.Errorf("RequestCancel(unknown job) = %v", err)
	}
	if _, err := WaitJobEnded(ctx, c, unknown); err != nil {
		t.Errorf("WaitJobEnded(unknown job) = %v", err)
	}
}

// A FAILED job ends a wait for it to run, needs no cancelling (Flink answers 409), and has
// ended as far as WaitJobEnded goes.
func TestWaitsForAFailedJob(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{})
	waitHealthy(t, ctx, c)
	cluster.Fail("boom")
	job, err := WaitJobRunning(ctx, StatusJob(c, jobID), true)
	var unexpected *wait.UnexpectedStateError
	if !errors.As(err, &unexpected) || unexpected.State != JobFailed || job.State != JobFailed {
		t.Errorf("WaitJobRunning(failed job) = %s, %v; want an unexpected state FAILED", job.State, err)
	}
	if err := c.CancelJob(ctx, jobID); err == nil {
		t.Fatal("the emulator accepted cancelling a FAILED job; this test needs its 409")
	}
	if err := RequestCancel(ctx, c, jobID); err != nil {
		t.Errorf("RequestCancel(FAILED job) = %v, want nil: it needs no cancelling", err)
	}
	if job, err := WaitJobEnded(ctx, c, jobID); err != nil || job.State != JobFailed {
		t.Errorf("WaitJobEnded(FAILED job) = %s, %v", job.State, err)
	}
}

func TestJobHealthy(t *testing.T) {
	running := func(states ...string) JobDetails {
		j := JobDetails{State: JobRunning}
		for _, s := range states {
			j.Vertices = append(j.Vertices, JobVertex{Status: s})
		}
		return j
	}
	tests := []struct {
		name string
		job  JobDetails
		want bool
	}{
		{"all running", running(TaskRunning, TaskRunning, TaskRunning), true},
		{"waiting for slots", running(TaskScheduled, TaskScheduled, TaskScheduled), false},
		{"deploying", running(TaskRunning, TaskDeploying), false},
		{"no vertices", running(), false},
		{"restarting", JobDetails{State: JobRestarting, Vertices: []JobVertex{{Status: TaskRunning}}}, false},
		{"finished", JobDetails{State: JobFinished, Vertices: []JobVertex{{Status: TaskFinished}}}, false},
	}
	for _, tt := range tests {
		if got := JobHealthy(tt.job); got != tt.want {
			t.Errorf("JobHealthy(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestJobHealthyAgainstEmulator(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{Parallelism: 3})
	cluster.SetTaskManagers(1, 2)
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		job, err := c.Job(ctx, jobID)
		return err == nil && job.State == JobRunning, err
	}, IsRetryable)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	job, err := c.Job(ctx, jobID)
	if err != nil || JobHealthy(job) || job.Vertices[0].Status != TaskScheduled {
		t.Fatalf("job with 2 of 3 slots: healthy=%v vertices=%+v err=%v", JobHealthy(job), job.Vertices, err)
	}
	cluster.SetTaskManagers(2, 2)
	waitHealthy(t, ctx, c)
}

func TestWaitForSavepointUnknownTrigger(t *testing.T) {
	ctx := testContext(t)
	_, c := startCluster(t, flinktest.JobSpec{})
	_, err := WaitForSavepoint(ctx, c, jobID, "0123456789abcdef0123456789abcdef")
	if !IsNotFound(err) || !strings.HasPrefix(err.Error(), "waiting for savepoint of job "+jobID+" (trigger 0123456789abcdef0123456789abcdef): flink cluster ns/app: GET /jobs/"+jobID+"/savepoints/0123456789abcdef0123456789abcdef: 404 Not Found: There is no savepoint operation with triggerId=0123456789abcdef0123456789abcdef for job "+jobID+".") {
		t.Errorf("WaitForSavepoint(unknown) = %v", err)
	}
}

// Right after a deployment the API server's service proxy may not serve the new Service yet
// (seen on the real node: "services \"app-rest\" not found" 77 ms after it was created), and
// an ingress may not route to it yet. A wait for a job being started keeps going through
// such answers until its deadline and says what answered; any other wait ends at once.
func TestWaitJobRunning_Starting_WaitsForAServiceTheFrontDoesNotServeYet(t *testing.T) {
	ctx := testContext(t)
	_, flink := startCluster(t, flinktest.JobSpec{})
	notYet := 3
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if notYet > 0 {
			notYet--
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, flinktest.KubernetesServiceNotFound("app-rest"))
			return
		}
		target, err := url.Parse(flink.BaseURL())
		if err != nil {
			t.Error(err)
			return
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := New("ns/app", srv.URL, srv.Client())
	job, err := WaitJobRunning(ctx, StatusJob(c, jobID), true)
	if err != nil || !JobHealthy(job) || notYet != 0 {
		t.Errorf("WaitJobRunning(starting) = %+v, %v (%d answers left); want a healthy job after the front's 404s", job.State, err, notYet)
	}

	notYet = 1
	if _, err := WaitJobRunning(ctx, StatusJob(c, jobID), false); !strings.Contains(err.Error(), `services "app-rest" not found`) {
		t.Errorf("WaitJobRunning(not starting) = %v, want the front's 404 at once", err)
	}

	notYet = 1 << 30
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = WaitJobRunning(short, StatusJob(c, jobID), true)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `services "app-rest" not found`) {
		t.Errorf("WaitJobRunning(starting, never served) = %v, want a timeout naming the front's answer", err)
	}
}
