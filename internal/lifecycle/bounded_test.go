package lifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func boundedVersion(n int) spec.Version {
	v := versionN(n)
	v.Bounded = true
	return v
}

// finishesAfter makes every JobManager started from now on finish its job after d.
func finishesAfter(s *stateful, d time.Duration) {
	s.kubelet.setOnStart(func(c *flinktest.Cluster) {
		time.AfterFunc(d, c.Finish)
	})
}

func (s *stateful) clusterReplicas() (jobManagers, taskManagers int32) {
	jm := s.deployment(kube.JobManagerDeploymentName(testApp))
	tm := s.deployment(kube.TaskManagerDeploymentName(testApp))
	return *jm.Spec.Replicas, *tm.Spec.Replicas
}

// A bounded version's job that finishes is its success: apply waits for it, records the
// application as finished and scales its cluster to zero; the next plan is clean; a new
// version runs the job again, from the start.
func TestBounded_ApplyWaitsUntilTheJobFinished(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	finishesAfter(s, 300*time.Millisecond)
	d := statefulFor(boundedVersion(1), StateRunning)
	d.WaitForCompletion = true
	res := s.mustApply(d, OpDeploy)
	if res.State != StateFinished || res.Status != flink.JobFinished {
		t.Fatalf("apply result state %q status %q, want finished/FINISHED", res.State, res.Status)
	}
	if jm, tm := s.clusterReplicas(); jm != 0 || tm != 0 {
		t.Errorf("the finished job's cluster runs %d JobManagers and %d TaskManagers, want none", jm, tm)
	}
	obs, err := s.p.Observe(context.Background(), testNS, testApp)
	if err != nil || obs.State != StateFinished || obs.Status != flink.JobFinished {
		t.Fatalf("Observe = %+v, %v; want finished", obs, err)
	}
	if plan, err := s.p.PlanChange(context.Background(), d); err != nil || plan.Operation != OpNone {
		t.Fatalf("the next plan = %+v, %v; want none", plan, err)
	} else {
		wantContains(t, "plan summary", plan.Summary, "bounded version v1 finished")
	}

	again := statefulFor(boundedVersion(2), StateRunning)
	again.WaitForCompletion = true
	plan, err := s.p.PlanChange(context.Background(), again)
	if err != nil || plan.Operation != OpDeploy || plan.RestorePath != "" {
		t.Fatalf("PlanChange(v2) = %+v, %v; want deploy with empty state", plan, err)
	}
	wantContains(t, "plan summary", plan.Summary, "previous run finished")
	if res := s.mustApply(again, OpDeploy); res.State != StateFinished || res.DeployedVersionID != boundedVersion(2).ID() {
		t.Errorf("v2's run: %+v", res)
	}
	if from := s.kubelet.startsSoFar()[1].RestorePath; from != "" {
		t.Errorf("the second run restored %q, want a start from the beginning", from)
	}
}

// Without wait_for_completion apply returns once the job runs; the job finishing later reads
// as finished, the next plan is none, and its apply scales the cluster to zero.
func TestBounded_WithoutWaiting_FinishedLaterPlansNone(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	d := statefulFor(boundedVersion(1), StateRunning)
	if res := s.mustApply(d, OpDeploy); res.State != StateRunning {
		t.Fatalf("apply result state %q, want running", res.State)
	}
	s.cluster().Finish()
	plan, err := s.p.PlanChange(context.Background(), d)
	if err != nil || plan.Operation != OpNone {
		t.Fatalf("PlanChange after the job finished = %+v, %v; want none", plan, err)
	}
	s.mustApply(d, OpNone)
	if rec := s.record(); rec.State != StateFinished {
		t.Errorf("record state %q, want finished", rec.State)
	}
	if jm, tm := s.clusterReplicas(); jm != 0 || tm != 0 {
		t.Errorf("the finished job's cluster runs %d JobManagers and %d TaskManagers, want none", jm, tm)
	}
}

// A bounded job that fails fails the apply with Flink's reason; the application reads as a
// job that ended, so the next plan starts it again.
func TestBounded_FailedJobFailsTheApply(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.kubelet.setOnStart(func(c *flinktest.Cluster) {
		time.AfterFunc(300*time.Millisecond, func() { c.Fail("input file is missing") })
	})
	d := statefulFor(boundedVersion(1), StateRunning)
	d.WaitForCompletion = true
	_, err := s.apply(d, OpDeploy)
	if err == nil {
		t.Fatal("apply succeeded although the bounded job failed")
	}
	wantContains(t, "error", err.Error(), "ended FAILED", "input file is missing")
	if rec := s.record(); rec.Journal != nil {
		t.Errorf("journal %+v left behind: the deploy itself succeeded", rec.Journal)
	}
	if plan, err := s.p.PlanChange(context.Background(), d); err != nil || plan.Operation != OpDeploy {
		t.Errorf("the next plan = %+v, %v; want deploy", plan, err)
	}
}

// A streaming (not bounded) job that finishes ended behind Terraform's back: it reads as
// cancelled and the next plan deploys it again, as before.
func TestUnbounded_FinishedJobReadsAsEnded(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	d := statefulFor(versionN(1), StateRunning)
	s.mustApply(d, OpDeploy)
	s.cluster().Finish()
	if plan, err := s.p.PlanChange(context.Background(), d); err != nil || plan.Operation != OpDeploy {
		t.Errorf("PlanChange = %+v, %v; want deploy", plan, err)
	}
}
