package lifecycle

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// adaptiveVersion is version n (parallelism p, one slot per TaskManager) under the adaptive
// scheduler.
func adaptiveVersion(n int, p int64) spec.Version {
	v := adaptive(versionN(1))
	v.Label, v.Parallelism = versionN(n).Label, p
	return v
}

// A version that changes only the parallelism of a job under the adaptive scheduler plans
// rescale: the job keeps its id and its JobManager, runs with the new parallelism on as many
// TaskManagers as it needs, and no savepoint is taken; back down the same way.
func TestRescale_ChangesTheParallelismInPlaceWithoutASavepoint(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(adaptiveVersion(1, 2))
	job, jm := s.record().JobID, s.cluster()
	template := s.deployment(kube.JobManagerDeploymentName(testApp)).Spec.Template

	for _, step := range []struct {
		label       int
		parallelism int64
		words       string
	}{{2, 4, "TaskManagers 2 → 4"}, {3, 2, "TaskManagers 4 → 2"}} {
		d := statefulFor(adaptiveVersion(step.label, step.parallelism), StateRunning)
		plan, err := s.p.PlanChange(context.Background(), d)
		if err != nil || plan.Operation != OpRescale {
			t.Fatalf("PlanChange(parallelism %d) = %+v, %v; want rescale", step.parallelism, plan, err)
		}
		wantContains(t, "plan summary", plan.Summary, "in place", step.words, "fall back to savepoint_redeploy")
		s.mustApply(d, OpRescale)
		if rec := s.record(); rec.JobID != job || rec.DeployedVersion != d.Version.Label || rec.Journal != nil {
			t.Errorf("record after the rescale: job %s, version %s, journal %+v; want job %s, %s, none",
				rec.JobID, rec.DeployedVersion, rec.Journal, job, d.Version.Label)
		}
		if s.cluster() != jm || jm.JobState() != flink.JobRunning {
			t.Fatalf("the rescale replaced the JobManager or stopped the job (%s)", jm.JobState())
		}
		for name, p := range jm.VertexParallelism() {
			if p != int(step.parallelism) {
				t.Errorf("vertex %s runs with parallelism %d, want %d", name, p, step.parallelism)
			}
		}
		if tm := s.deployment(kube.TaskManagerDeploymentName(testApp)); *tm.Spec.Replicas != int32(step.parallelism) {
			t.Errorf("%d TaskManagers, want %d", *tm.Spec.Replicas, step.parallelism)
		}
		if got := s.deployment(kube.JobManagerDeploymentName(testApp)).Spec.Template; !reflect.DeepEqual(got, template) {
			t.Error("the rescale changed the JobManager's pod template: its pod restarts")
		}
	}
	if taken := s.savepointsTaken(); len(taken) != 0 {
		t.Errorf("savepoints taken %q, want none", taken)
	}
}

// A rescale Flink refuses falls back to the upgrade_mode's redeploy, which takes a savepoint
// and starts the new version from it.
func TestRescale_RefusedFallsBackToTheRedeploy(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(adaptiveVersion(1, 2))
	s.cluster().Faults().FailNext(http.MethodPut, "/jobs/", http.StatusBadRequest, 1)
	d := statefulFor(adaptiveVersion(2, 4), StateRunning)
	s.mustApply(d, OpRescale)
	taken := s.savepointsTaken()
	if len(taken) != 1 {
		t.Fatalf("savepoints taken %q, want the fallback's one", taken)
	}
	rec := s.record()
	if rec.Generation != 2 || rec.DeployedVersion != "v2" || s.cluster().RestoredFrom() != taken[0] {
		t.Errorf("after the fallback: generation %d, version %s, restored %q; want 2, v2, %s",
			rec.Generation, rec.DeployedVersion, s.cluster().RestoredFrom(), taken[0])
	}
	wantContains(t, "progress", strings.Join(s.progressLines(), "\n"), "the in-place rescale did not work", "savepoint_redeploy instead")
}

// A job under the default scheduler, or a change beyond parallelism and TaskManagers, is
// redeployed as before.
func TestRescale_OnlyUnderTheAdaptiveSchedulerAndForParallelismAlone(t *testing.T) {
	t.Parallel()
	cur := &Current{Version: adaptiveVersion(1, 2), State: StateRunning, JobID: runningJobID}
	d := statefulFor(adaptiveVersion(2, 4), StateRunning)
	if op := classify(cur, d).Operation; op != OpRescale {
		t.Fatalf("adaptive, parallelism 2 → 4: %s, want rescale", op)
	}
	defaultScheduler := *cur
	defaultScheduler.Version = versionN(1)
	plain := statefulFor(versionN(2), StateRunning)
	plain.Version.Parallelism = 4
	if op := classify(&defaultScheduler, plain).Operation; op != OpSavepointRedeploy {
		t.Errorf("default scheduler: %s, want savepoint_redeploy", op)
	}
	newImage := d
	newImage.Version.Image = "registry.example.com/fraud:2.0.0"
	if op := classify(cur, newImage).Operation; op != OpSavepointRedeploy {
		t.Errorf("a new image too: %s, want savepoint_redeploy", op)
	}
	newSlots := d
	newSlots.Version.TaskManager.TaskSlots = 2
	if op := classify(cur, newSlots).Operation; op != OpSavepointRedeploy {
		t.Errorf("new task slots (the TaskManagers restart): %s, want savepoint_redeploy", op)
	}
}
