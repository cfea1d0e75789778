package lifecycle

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
)

// A job whose tasks have not all run for longer than the readiness timeout reads back as
// stuck, with Flink's reason; the plan offers to replace its TaskManager pods, and the apply
// brings the same job back without a savepoint or a new JobManager.
func TestStuckJob_PlanShowsWhyAndRestartingTaskManagersRecoversIt(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	desired := statefulFor(versionN(1), StateRunning)
	desired.Rollback.ReadinessTimeout = 200 * time.Millisecond
	s.mustApply(desired, OpDeploy)
	c := s.cluster()
	c.SetTaskManagers(0, 1) // its TaskManager is gone; the job waits for slots
	time.Sleep(300 * time.Millisecond)

	obs, err := s.p.Observe(ctx, testNS, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != StateStuck {
		t.Fatalf("observed %s, want stuck", obs.State)
	}
	wantContains(t, "problem", obs.Problem, "RUNNING for", "not running", "no longer reachable")
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpRestartTaskManagers {
		t.Fatalf("plan %s, %v; want %s", plan.Operation, err, OpRestartTaskManagers)
	}
	wantContains(t, "plan summary", plan.Summary, "is stuck", "no longer reachable", "replace its TaskManager pods", "latest completed checkpoint")

	mark := s.mark()
	starts := len(s.kubelet.startsSoFar())
	s.mustApply(desired, OpRestartTaskManagers)
	if c2 := s.cluster(); c2 != c || !flink.JobHealthy(mustJob(t, s.harness, jobGen1)) {
		t.Errorf("job %s is not healthy again on the same JobManager", jobGen1)
	}
	if n := len(s.kubelet.startsSoFar()); n != starts {
		t.Errorf("%d JobManagers started; replacing TaskManagers must keep the JobManager", n-starts)
	}
	if stops := flinkRequests(s.since(mark), http.MethodPost, "/stop"); len(stops) != 0 {
		t.Errorf("a savepoint was asked of a stuck job: %q", stops)
	}
	if plan, err := s.p.PlanChange(ctx, desired); err != nil || plan.Operation != OpNone {
		t.Errorf("plan after the restart %s, %v; want none", plan.Operation, err)
	}
}

// A job that keeps restarting is stuck too, however recently it last entered RUNNING.
func TestStuckJob_RestartLoop(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	desired := statefulFor(versionN(1), StateRunning)
	desired.Rollback.ReadinessTimeout = 10 * time.Second
	s.mustApply(desired, OpDeploy)
	c := s.cluster()
	for i := 0; i < restartLoop; i++ {
		c.SetTaskManagers(0, 1)
		c.SetTaskManagers(2, 1)
		eventually(t, "the job runs again", func() bool { return flink.JobHealthy(mustJob(t, s.harness, jobGen1)) })
	}
	c.SetTaskManagers(0, 1)
	obs, err := s.p.Observe(context.Background(), testNS, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != StateStuck {
		t.Fatalf("observed %s after %d restarts, want stuck", obs.State, restartLoop+1)
	}
	wantContains(t, "problem", obs.Problem, "restarted", "times in the last 10s")
}

// A healthy job, or one that only just restarted, is not stuck.
func TestStuckJob_NotWithinTheReadinessTimeout(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	desired := statefulFor(versionN(1), StateRunning)
	desired.Rollback.ReadinessTimeout = 10 * time.Second
	s.mustApply(desired, OpDeploy)
	s.cluster().SetTaskManagers(0, 1)
	obs, err := s.p.Observe(context.Background(), testNS, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != StateRunning {
		t.Errorf("observed %s right after one restart, want running", obs.State)
	}
}

// A stuck job whose version changes is upgraded like a running one (the savepoint waits for
// the job, then says it is not running), not restarted.
func TestStuckJob_WithANewVersion_ClassifiesAsAnUpgrade(t *testing.T) {
	current := &Current{Version: versionN(1), State: StateStuck, JobID: jobGen1, Problem: "x"}
	if op := Classify(current, statefulFor(versionN(2), StateRunning)).Operation; op != OpSavepointRedeploy {
		t.Errorf("stuck + new version = %s, want %s", op, OpSavepointRedeploy)
	}
	if op := Classify(current, statefulFor(versionN(1), StateSuspended)).Operation; op != OpSuspend {
		t.Errorf("stuck + suspended = %s, want %s", op, OpSuspend)
	}
}
