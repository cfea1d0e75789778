package flink

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

func TestWaitForRetriesRetryableErrors(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{})
	cluster.Faults().FailNext(http.MethodGet, "/overview", http.StatusServiceUnavailable, 2)
	calls := 0
	err := WaitFor(ctx, func(ctx context.Context) (bool, error) {
		calls++
		ov, err := c.Overview(ctx)
		return err == nil && ov.JobsRunning == 1, err
	}, Backoff{Initial: time.Millisecond})
	if err != nil || calls != 3 {
		t.Errorf("WaitFor = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestWaitForStopsOnPermanentError(t *testing.T) {
	ctx := testContext(t)
	_, c := startCluster(t, flinktest.JobSpec{})
	calls := 0
	err := WaitFor(ctx, func(ctx context.Context) (bool, error) {
		calls++
		_, err := c.Job(ctx, "00000000000000000000000000000000")
		return false, err
	}, Backoff{Initial: time.Millisecond})
	if !IsNotFound(err) || calls != 1 {
		t.Errorf("WaitFor = %v after %d calls, want a not-found error after 1", err, calls)
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	retryable := &APIError{Cluster: "ns/app", Method: "GET", Path: "/overview", StatusCode: 503}
	start := time.Now()
	calls := 0
	err := WaitFor(ctx, func(context.Context) (bool, error) {
		calls++
		return false, retryable
	}, Backoff{Initial: 10 * time.Millisecond, Factor: 2, Max: 20 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, retryable) || !strings.Contains(err.Error(), "last error: flink cluster ns/app: GET /overview: 503") {
		t.Errorf("WaitFor = %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second || calls < 3 || calls > 6 {
		t.Errorf("WaitFor took %v and %d calls with 10ms..20ms pauses in 60ms", elapsed, calls)
	}

	// Not done, no error: the context error alone.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	err = WaitFor(ctx2, func(context.Context) (bool, error) { return false, nil }, Backoff{})
	if err != context.DeadlineExceeded {
		t.Errorf("WaitFor without errors = %v, want context.DeadlineExceeded", err)
	}
}

func TestBackoffDefaults(t *testing.T) {
	tests := []struct {
		in, want Backoff
	}{
		{Backoff{}, Backoff{100 * time.Millisecond, 1.5, 2 * time.Second}},
		{Backoff{Initial: time.Second, Factor: 0.5, Max: time.Millisecond}, Backoff{time.Second, 1, time.Second}},
		{Backoff{Initial: time.Millisecond, Factor: 3, Max: time.Minute}, Backoff{time.Millisecond, 3, time.Minute}},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tt.in, got, tt.want)
		}
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
	err := WaitFor(ctx, func(ctx context.Context) (bool, error) {
		job, err := c.Job(ctx, jobID)
		return err == nil && job.State == JobRunning, err
	}, Backoff{Initial: 2 * time.Millisecond})
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

func TestWaitForDisposalFailure(t *testing.T) {
	ctx := testContext(t)
	cluster, c := startCluster(t, flinktest.JobSpec{})
	cluster.OnDispose(func(path string) error {
		return errors.New("Cannot find meta data file '_metadata' in directory '" + path + "'")
	})
	trigger, err := c.DisposeSavepoint(ctx, "s3://b/sp/savepoint-000000-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	err = WaitForDisposal(ctx, c, trigger)
	var opErr *OperationError
	want := "flink cluster ns/app: savepoint disposal (trigger " + trigger + ") failed: java.io.IOException: Cannot find meta data file '_metadata' in directory 's3://b/sp/savepoint-000000-000000000000'"
	if !errors.As(err, &opErr) || err.Error() != want {
		t.Errorf("WaitForDisposal = %v\nwant %s", err, want)
	}
}
