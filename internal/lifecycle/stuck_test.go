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

// The plan for a stuck job names what its JobManager will restore once its tasks can run:
// its latest completed checkpoint.
func TestStuckJob_PlanNamesTheCheckpointTheJobManagerRestores(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	v := checkpointed(1, "20ms", snapshotRoot+"/checkpoints")
	desired := statefulFor(v, StateRunning)
	desired.Rollback.ReadinessTimeout = 200 * time.Millisecond
	s.mustApply(desired, OpDeploy)
	client := s.p.Flink(testNS, testApp)
	eventually(t, "a checkpoint completed", func() bool {
		st, err := client.Checkpoints(ctx, jobGen1)
		return err == nil && st.Latest.Completed != nil
	})
	s.cluster().SetTaskManagers(0, 1)
	time.Sleep(300 * time.Millisecond)
	st, err := client.Checkpoints(ctx, jobGen1)
	if err != nil || st.Latest.Completed == nil {
		t.Fatalf("checkpoints %+v, %v", st, err)
	}
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpRestartTaskManagers {
		t.Fatalf("plan %s, %v; want %s", plan.Operation, err, OpRestartTaskManagers)
	}
	if want := st.Latest.Completed.ExternalPath; plan.RestorePath != want {
		t.Errorf("plan restores %q, want the latest completed checkpoint %s", plan.RestorePath, want)
	}
	wantContains(t, "plan summary", plan.Summary, st.Latest.Completed.ExternalPath, "its latest completed checkpoint")
}

// A stuck job that completed no checkpoint since it started restores what it started from;
// without high availability the plan says that a restarted JobManager knew nothing newer.
func TestStuckJob_NoCheckpointSinceStart_PlanNamesTheRestoredSavepoint(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	desired := statefulFor(versionN(2), StateRunning)
	desired.Rollback.ReadinessTimeout = 200 * time.Millisecond
	desired.HighAvailability = false
	s.mustApply(desired, OpSavepointRedeploy)
	savepoint := s.record().LastSnapshotPath
	s.cluster().SetTaskManagers(0, 1)
	time.Sleep(300 * time.Millisecond)
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpRestartTaskManagers {
		t.Fatalf("plan %s, %v; want %s", plan.Operation, err, OpRestartTaskManagers)
	}
	if plan.RestorePath != savepoint {
		t.Errorf("plan restores %q, want the savepoint the job started from, %s", plan.RestorePath, savepoint)
	}
	wantContains(t, "plan summary", plan.Summary, savepoint, "completed no checkpoint since", "without high availability")
}
