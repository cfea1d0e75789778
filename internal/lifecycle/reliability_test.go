package lifecycle

// Regression tests for the defects a reliability review proved against the stateful path
// ("never lose a savepoint, never restore from an older one than the last taken"). Each
// failed before its fix.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// H1: the stop-with-savepoint outlived savepoint_timeout and completed in Flink; the next
// apply comes after Flink forgot the trigger id (rest.async.store-duration, or a JobManager
// restart). The completed savepoint is found from the job and recorded, and v2 restores it.
func TestSavepointRedeploy_TriggerForgottenByFlink_RecordsAndRestoresTheCompletedSavepoint(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	sp, desired := s.savepointForgottenByFlink()

	plan, err := s.p.PlanChange(context.Background(), desired)
	if err != nil || plan.Operation != OpRecover {
		t.Fatalf("plan %s, %v; want recover", plan.Operation, err)
	}
	s.mustApply(desired, OpRecover)
	if c := s.cluster(); c.RestoredFrom() != sp || c.JobState() != flink.JobRunning {
		t.Errorf("v2 job %s is %s restoring %q, want the savepoint %s taken of v1", c.JobID(), c.JobState(), c.RestoredFrom(), sp)
	}
	if rec := s.record(); rec.LastSnapshotPath != sp || rec.Journal != nil {
		t.Errorf("record last snapshot %q journal %+v; want %s recorded", rec.LastSnapshotPath, rec.Journal, sp)
	}
	if n := len(s.savepointsTaken()); n != 1 {
		t.Errorf("%d savepoints taken, want 1", n)
	}
}

// savepointForgottenByFlink deploys v1 and upgrades to v2 with a savepoint_timeout the
// stop-with-savepoint outlives; once the stop completed in Flink, Flink forgets the trigger.
// It returns the savepoint that stop completed, and v2 with a timeout long enough for the
// next apply.
func (s *stateful) savepointForgottenByFlink() (sp string, desired Desired) {
	s.t.Helper()
	s.deploy(versionN(1))
	old := s.cluster()
	old.Faults().SlowSavepoints(300 * time.Millisecond)
	desired = statefulFor(versionN(2), StateRunning)
	desired.Savepoint.Timeout = 100 * time.Millisecond
	if _, err := s.apply(desired, OpSavepointRedeploy); err == nil {
		s.t.Fatal("apply should time out on the savepoint")
	}
	eventually(s.t, "the stop completed in Flink", func() bool { return old.JobState() == flink.JobFinished })
	sp = old.Savepoints()[0]
	old.ForgetOperations()
	desired.Savepoint.Timeout = 5 * time.Second
	return sp, desired
}

// H1, the same with Flink's memory gone entirely (a JobManager restart loses the job and
// its checkpoint statistics): the savepoint is found in the snapshot store.
func TestSavepointRedeploy_JobAndTriggerForgotten_FindsTheSavepointInTheStore(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	sp, desired := s.savepointForgottenByFlink()
	// Flink's own answer for a job it no longer knows, on every path of that job.
	s.rt.answer(func(r *http.Request) *http.Response {
		if strings.Contains(r.URL.Path, "/jobs/"+jobGen1) {
			return flinkJobNotFound(r, jobGen1)
		}
		return nil
	})

	s.mustApply(desired, OpRecover)
	s.rt.answer(nil)
	if c := s.cluster(); c.RestoredFrom() != sp {
		t.Errorf("v2 restored %q, want %s found in the store", c.RestoredFrom(), sp)
	}
}

// H1: a 4xx on the stop request does not prove the job runs on: the outcome is looked up.
// Here the job is running, so nothing changed and the journal goes.
func TestSavepointRedeploy_StopRefused_JobStillRunning_ForgetsTheJournal(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	old.Faults().FailNext(http.MethodPost, "/jobs/"+jobGen1+"/stop", http.StatusConflict, 1)
	desired := statefulFor(versionN(2), StateRunning)
	_, err := s.apply(desired, OpSavepointRedeploy)
	if err == nil {
		t.Fatal("apply succeeded although the stop was refused")
	}
	wantContains(t, "error", err.Error(), "refused", "keeps running")
	if rec := s.record(); rec.Journal != nil || old.JobState() != flink.JobRunning {
		t.Errorf("journal %+v, job %s; want no journal and the job running", rec.Journal, old.JobState())
	}
}

// Seen on real Flink: an upgrade applied while the job was restarting failed with a bare
// CheckpointException. A savepoint is asked only of a job whose tasks all run; one that
// does not within savepoint_timeout fails the apply before anything changed, with Flink's
// last failure.
func TestSavepointRedeploy_JobNotRunning_FailsBeforeTouchingAnything(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	old.SetTaskManagers(0, 1) // its TaskManager is gone: the job restarts and waits for slots
	eventually(t, "the job lost its tasks", func() bool { return !flink.JobHealthy(mustJob(t, s.harness, jobGen1)) })
	desired := statefulFor(versionN(2), StateRunning)
	desired.Savepoint.Timeout = 300 * time.Millisecond
	mark := s.mark()
	_, err := s.apply(desired, OpSavepointRedeploy)
	if err == nil {
		t.Fatal("apply succeeded although the job was not running")
	}
	wantContains(t, "error", err.Error(), "is not running, so no savepoint can be taken")
	if stops := flinkRequests(s.since(mark), http.MethodPost, "/stop"); len(stops) != 0 {
		t.Errorf("a stop was sent to a job that was not running: %q", stops)
	}
	if rec := s.record(); rec.Journal != nil {
		t.Errorf("journal %+v left behind although nothing changed", rec.Journal)
	}
}

// ... and a job that comes back within savepoint_timeout is waited for, then stopped.
func TestSavepointRedeploy_JobRestarting_WaitsForItThenStops(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	old.SetTaskManagers(0, 1)
	time.AfterFunc(200*time.Millisecond, func() { old.SetTaskManagers(2, 1) })
	s.mustApply(statefulFor(versionN(2), StateRunning), OpSavepointRedeploy)
	if c := s.cluster(); c.RestoredFrom() != old.Savepoints()[0] {
		t.Errorf("v2 restored %q, want %s", c.RestoredFrom(), old.Savepoints()[0])
	}
}

// H2: an upgrade whose apply ended (Ctrl-C, timeout) after the new job was already healthy:
// recover keeps that job, which has newer state than the upgrade's savepoint.
func TestRecover_HealthyNewJob_IsKeptNotRedeployed(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(checkpointed(1, "20ms", snapshotRoot+"/checkpoints"))
	desired := statefulFor(checkpointed(2, "20ms", snapshotRoot+"/checkpoints"), StateRunning)
	s.crashWhileVerifyingNewJob(desired)
	s.waitCheckpoints(jobGen2, 3)
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpRecover {
		t.Fatalf("plan %s, %v; want recover", plan.Operation, err)
	}
	wantContains(t, "plan summary", plan.Summary, "kept if it runs healthy")
	starts := len(s.kubelet.startsSoFar())
	s.mustApply(desired, OpRecover)
	if n := len(s.kubelet.startsSoFar()); n != starts {
		t.Errorf("recover started %d JobManager(s) although v2 job %s was healthy", n-starts, jobGen2)
	}
	if c := s.cluster(); c.JobID() != jobGen2 || c.JobState() != flink.JobRunning {
		t.Errorf("job %s is %s, want %s still running", c.JobID(), c.JobState(), jobGen2)
	}
	if rec := s.record(); rec.Journal != nil || rec.DeployedVersion != "v2" {
		t.Errorf("record %+v; want v2 deployed, no journal", rec)
	}
}

// crashWhileVerifyingNewJob applies desired as a savepoint upgrade, and the provider process
// dies while it verifies the new job, which runs healthy; a fresh process takes over.
func (s *stateful) crashWhileVerifyingNewJob(desired Desired) {
	s.t.Helper()
	c := s.crashAt("")
	s.onFlink(func(method, path string, _ []byte, status int) {
		if method == http.MethodGet && strings.HasSuffix(path, "/jobs/"+jobGen2) && status == 200 {
			c.fire()
		}
	})
	if _, err := s.p.Apply(c.ctx, desired, OpSavepointRedeploy, s.progressFn()); err == nil {
		s.t.Fatal("apply should have been interrupted")
	}
	s.onFlink(nil)
	c.over()
	s.restart()
}

// H2 with the configuration now asking for suspended: the healthy new job ran since the
// upgrade's savepoint, so it is stopped with a savepoint of its own before scaling to zero.
func TestRecover_HealthyNewJob_DesiredSuspended_TakesASavepointFirst(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	desired := statefulFor(versionN(2), StateRunning)
	s.crashWhileVerifyingNewJob(desired)
	upgradeSavepoint := s.record().Journal.SavepointPath
	s.mustApply(statefulFor(versionN(2), StateSuspended), OpRecover)
	taken := s.savepointsTaken()
	if len(taken) != 2 || taken[0] != upgradeSavepoint {
		t.Fatalf("savepoints %q; want the upgrade's and then one of the v2 job", taken)
	}
	rec := s.record()
	if rec.State != StateSuspended || rec.LastSnapshotPath != taken[1] || rec.Journal != nil {
		t.Errorf("record state %s last snapshot %s journal %+v; want suspended at %s", rec.State, rec.LastSnapshotPath, rec.Journal, taken[1])
	}
	plan, err := s.p.PlanChange(context.Background(), statefulFor(versionN(2), StateRunning))
	if err != nil || plan.RestorePath != taken[1] {
		t.Errorf("resume plan restores %q (%v), want the v2 job's savepoint %s", plan.RestorePath, err, taken[1])
	}
}

// H2 through M3: the API server refuses the final record write for longer than the retry
// budget (the new job is healthy); the next apply's recover keeps the healthy job instead of
// restarting it from the upgrade savepoint. A shorter blip is absorbed by the retries.
func TestSavepointRedeploy_APIServerDownAtTheFinalWrite_RecoverKeepsTheHealthyJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		failures  int
		wantApply bool
	}{
		{"a blip is retried", 3, true},
		{"an outage fails the apply", 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStateful(t)
			s.deploy(versionN(1))
			fails := 0
			s.fake.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
				cm, ok := objectOf(a).(*corev1.ConfigMap)
				if !ok {
					return false, nil, nil
				}
				if r, ok := decodeAppRecordCM(cm); ok && r.Journal == nil && r.Generation == 2 && fails < tc.failures {
					fails++
					return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
				}
				return false, nil, nil
			})
			desired := statefulFor(versionN(2), StateRunning)
			_, err := s.apply(desired, OpSavepointRedeploy)
			if tc.wantApply {
				if err != nil {
					t.Fatalf("apply failed on a %d-write blip: %v", fails, err)
				}
				return
			}
			if err == nil {
				t.Fatal("apply succeeded although the final write never did")
			}
			fails = tc.failures // the API server is back
			starts := len(s.kubelet.startsSoFar())
			s.mustApply(desired, OpRecover)
			if n := len(s.kubelet.startsSoFar()); n != starts {
				t.Errorf("recover restarted the healthy v2 job (%d new JobManagers)", n-starts)
			}
			if rec := s.record(); rec.Journal != nil || rec.JobID != jobGen2 {
				t.Errorf("record %+v; want job %s, no journal", rec, jobGen2)
			}
		})
	}
}

// H3: disposing a flink_snapshot that adopted the suspend savepoint's path would delete the
// application's only restore point. Adopting takes the existing record over, and its
// disposal keeps the files while the application would resume from them, saying so.
func TestReleaseSnapshot_TheOnlyRestorePoint_KeepsItsFiles(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	s.mustApply(statefulFor(versionN(1), StateSuspended), OpSuspend)
	suspend := s.record()
	adopted, err := s.p.AdoptSnapshot(ctx, testNS, testApp, suspend.LastSnapshotPath, records.FormatCanonical, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	if adopted.Name != suspend.LastSnapshotName {
		t.Errorf("adopting a recorded path made a second record %s; want %s taken over", adopted.Name, suspend.LastSnapshotName)
	}
	warning, err := s.p.ReleaseSnapshot(ctx, testNS, adopted.Name, true, s.progressFn()) // deletion_policy = delete
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "warning", warning, "application fraud is suspended and would resume from it", "kept")
	if !s.savepointExists(suspend.LastSnapshotPath) {
		t.Errorf("the suspend savepoint %s was disposed", suspend.LastSnapshotPath)
	}
	if rec, ok := s.snapshotRecord(adopted.Name); !ok || rec.ManagedBy != "" || rec.State != records.SnapshotCompleted {
		t.Errorf("record %+v (kept %v); want it on record, completed, managed by nobody", rec, ok)
	}
	plan, err := s.p.PlanChange(ctx, statefulFor(versionN(1), StateRunning))
	if err != nil || plan.RestorePath != suspend.LastSnapshotPath {
		t.Errorf("resume plan %q, %v; want %s", plan.RestorePath, err, suspend.LastSnapshotPath)
	}
}

// H3: retention never deletes a path a flink_snapshot manages (it adopted it to pin it).
func TestRetention_NeverDisposesAPathAFlinkSnapshotManages(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	first := s.upgradeTo(2, Retention{MaxCount: 1})
	pinned, err := s.p.AdoptSnapshot(ctx, testNS, testApp, first.Path, records.FormatCanonical, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	s.upgradeTo(3, Retention{MaxCount: 1})
	s.upgradeTo(4, Retention{MaxCount: 1})
	if rec, ok := s.snapshotRecord(pinned.Name); !ok || rec.ManagedBy == "" || !s.savepointExists(pinned.Path) {
		t.Errorf("managed snapshot %s: record %v (%+v), files %v; want both kept", pinned.Name, ok, rec, s.savepointExists(pinned.Path))
	}
}

// H3: a second record of the same path (written before adopt took records over) is one set
// of files: retention forgets its own record and keeps the files.
func TestRetention_PathRecordedTwice_KeepsTheFiles(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	first := s.upgradeTo(2, Retention{})
	twin := first
	twin.Name, twin.ManagedBy, twin.Origin = testApp+"-snap-twin", records.SnapshotManagedByResource, records.OriginImported
	if err := s.p.Records().PutSnapshotRecord(context.Background(), twin); err != nil {
		t.Fatal(err)
	}
	s.upgradeTo(3, Retention{MaxCount: 1})
	s.upgradeTo(4, Retention{MaxCount: 1})
	if _, ok := s.snapshotRecord(first.Name); ok {
		t.Errorf("the automatic record %s was kept; retention should have forgotten it", first.Name)
	}
	if !s.savepointExists(first.Path) {
		t.Errorf("retention deleted %s, which record %s still names", first.Path, twin.Name)
	}
}

// H3: a snapshot whose _metadata is gone is refused at plan time, not replaced by an older.
func TestResume_SnapshotFilesGone_PlanRefusesInsteadOfRestoringOlder(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	s.upgradeTo(2, Retention{})
	s.mustApply(statefulFor(versionN(2), StateSuspended), OpSuspend)
	latest := s.record().LastSnapshotPath
	key, _ := s.store.Key(latest)
	if err := s.store.Bucket().Delete(ctx, key+"/_metadata"); err != nil {
		t.Fatal(err)
	}
	_, err := s.p.PlanChange(ctx, statefulFor(versionN(2), StateRunning))
	if err == nil {
		t.Fatal("resume planned although its snapshot's _metadata is gone")
	}
	wantContains(t, "plan error", err.Error(), latest, "no longer whole", `restore strategy = "snapshot"`)
	wantSetting(t, err, SettingRestoreStrategy)
}

// M2: resume picks the newest snapshot by the order the lifecycle recorded them, not by the
// CreatedAt of whichever runner wrote them (here runner A's clock was 10 minutes fast).
func TestResume_RestoresTheNewestSnapshotWhateverTheWriterClock(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	s.p.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	s.mustApply(statefulFor(versionN(2), StateRunning), OpSavepointRedeploy)
	s.restart()
	s.p.Now = time.Now
	s.mustApply(statefulFor(versionN(2), StateSuspended), OpSuspend)
	newest := s.record().LastSnapshotPath
	plan, err := s.p.PlanChange(ctx, statefulFor(versionN(2), StateRunning))
	if err != nil {
		t.Fatal(err)
	}
	if plan.RestorePath != newest {
		t.Errorf("resume restores %s, want the suspend savepoint %s", plan.RestorePath, newest)
	}
}

// M4: a configuration Flink cannot read fails before the old job is stopped.
func TestSavepointRedeploy_BadConfiguration_FailsBeforeTheOldJobIsStopped(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	bad := versionN(2)
	bad.FlinkConfiguration = map[string]string{"s3.access key": "AKIA"}
	desired := statefulFor(bad, StateRunning)
	if _, err := s.p.PlanChange(context.Background(), desired); err == nil {
		t.Error("plan accepted a configuration key with a space")
	}
	if _, err := s.apply(desired, OpSavepointRedeploy); err == nil {
		t.Error("apply accepted it")
	}
	if old := s.kubelet.clustersSoFar()[0]; old.JobState() != flink.JobRunning {
		t.Errorf("job %s is %s; the bad configuration must be refused before it is stopped", old.JobID(), old.JobState())
	}
}

// L1: retention never strands records of savepoints outside the snapshot store (their files
// cannot be deleted through it) in state "disposing": they stay completed and restorable.
func TestRetention_SavepointsOutsideTheStore_StayCompleted(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.kubelet.mu.Lock()
	s.kubelet.onSavepoint = nil // Flink writes to another bucket the provider's store does not see
	s.kubelet.mu.Unlock()
	s.deploy(versionN(1))
	for n := 2; n <= 4; n++ {
		d := statefulFor(versionN(n), StateRunning)
		d.Savepoint.Directory = "s3://other-bucket/savepoints"
		d.Retention = Retention{MaxCount: 1}
		s.mustApply(d, OpSavepointRedeploy)
	}
	for _, r := range s.snapshotRecords() {
		if r.State != records.SnapshotCompleted {
			t.Errorf("%s (%s) is %s, want completed: its files are intact outside the store", r.Name, r.Path, r.State)
		}
	}
}

// H4: a 404 that is not Flink's own answer (an ingress default backend) does not mean the
// job ended: destroy with on_destroy = "savepoint" deletes nothing and says what answered.
func TestDelete_404FromANonFlinkFront_KeepsTheClusterAndSaysWhatAnswered(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	s.rt.answer(func(r *http.Request) *http.Response { return ingress404(r) })
	err := s.p.Delete(context.Background(), testNS, testApp, DestroySavepoint, SavepointOptions{Timeout: 2 * time.Second}, s.progressFn())
	s.rt.answer(nil)
	if err == nil {
		t.Fatal("destroy succeeded although Flink never answered")
	}
	wantContains(t, "error", err.Error(), "nothing was deleted", "not Flink")
	if old.JobState() != flink.JobRunning || s.cluster() != old {
		t.Errorf("job %s is %s; want it running untouched", old.JobID(), old.JobState())
	}
	if rec := s.record(); rec.Journal != nil {
		t.Errorf("journal %+v left behind although nothing changed", rec.Journal)
	}
}

// H4: the plan does not read a non-Flink 404 as "the job ended" (which would plan a redeploy
// from older state).
func TestPlan_404FromANonFlinkFront_IsNotDrift(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	s.rt.answer(func(r *http.Request) *http.Response { return ingress404(r) })
	defer s.rt.answer(nil)
	obs, err := s.p.Observe(context.Background(), testNS, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != StateRunning || obs.Status != StatusUnreachable {
		t.Errorf("observed %s/%s; want running/%s", obs.State, obs.Status, StatusUnreachable)
	}
	plan, err := s.p.PlanChange(context.Background(), statefulFor(versionN(1), StateRunning))
	if err != nil || plan.Operation != OpNone {
		t.Errorf("plan %s, %v; want none", plan.Operation, err)
	}
}

// L3: a plan that could not say what apply would do (version unknown at plan time) may not
// stop or replace a running job at apply.
func TestApply_PlanWithoutOperation_RefusesToReplaceARunningJob(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	_, err := s.apply(statefulFor(versionN(2), StateRunning), "")
	if err == nil {
		t.Fatal("apply replaced the running job although the plan showed no operation")
	}
	wantContains(t, "error", err.Error(), "plan could not say", "savepoint_redeploy")
	var stale *StalePlanError
	if !errors.As(err, &stale) || stale.Planned != "" || stale.Needed != OpSavepointRedeploy {
		t.Errorf("error %v is no StalePlanError for a plan without operation", err)
	}
	if c := s.cluster(); c.JobID() != jobGen1 || c.JobState() != flink.JobRunning {
		t.Errorf("job %s is %s; want the old job untouched", c.JobID(), c.JobState())
	}
	// Creating an application needs no plan to be safe.
	h := newStateful(t)
	if _, err := h.apply(statefulFor(versionN(1), StateRunning), ""); err != nil {
		t.Errorf("a new application with no planned operation: %v", err)
	}
}

// L4: stateless_redeploy and cancel are journaled: a crash after the old job was cancelled
// leaves the next plan recover, which finishes the operation.
func TestStatelessRedeploy_CrashAfterCancel_RecoverFinishes(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	desired := statefulFor(versionN(2), StateRunning)
	desired.UpgradeMode = UpgradeStateless
	c := s.crashAt(stepCancelled)
	if _, err := s.p.Apply(c.ctx, desired, OpStatelessRedeploy, s.progressFn()); err == nil {
		t.Fatal("apply should have died")
	}
	c.over()
	s.restart()
	plan, err := s.p.PlanChange(context.Background(), desired)
	if err != nil || plan.Operation != OpRecover {
		t.Fatalf("plan %s, %v; want recover", plan.Operation, err)
	}
	s.mustApply(desired, OpRecover)
	if c := s.cluster(); c.JobID() != jobGen2 || c.JobState() != flink.JobRunning || c.RestoredFrom() != "" {
		t.Errorf("job %s is %s restoring %q; want v2 running with empty state", c.JobID(), c.JobState(), c.RestoredFrom())
	}
}

// L5: a flink_snapshot's savepoint is journaled: when the apply gives up while Flink is
// still writing it, a retried create records the same savepoint instead of leaking it.
func TestTakeSnapshot_TimedOut_RetryRecordsTheSameSavepoint(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	old := s.cluster()
	old.Faults().SlowSavepoints(300 * time.Millisecond)
	if _, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{Timeout: 100 * time.Millisecond}, s.progressFn()); err == nil {
		t.Fatal("TakeSnapshot succeeded before the savepoint completed")
	}
	if j := s.record().Journal; j == nil || Operation(j.Operation) != opSnapshot || j.TriggerID == "" {
		t.Fatalf("journal %+v; want the snapshot's trigger", j)
	}
	eventually(t, "the savepoint completed", func() bool { return len(old.Savepoints()) == 1 })
	snap, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{Timeout: 5 * time.Second}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Path != old.Savepoints()[0] || len(old.Savepoints()) != 1 || snap.ManagedBy == "" {
		t.Errorf("snapshot %+v; savepoints %q; want the first savepoint, managed", snap, old.Savepoints())
	}
	if j := s.record().Journal; j != nil {
		t.Errorf("journal %+v left behind", j)
	}
}

// L5: ... and if nobody retries the create, the application's next apply records it.
func TestTakeSnapshot_TimedOut_NextApplicationApplyRecordsIt(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	old := s.cluster()
	old.Faults().SlowSavepoints(300 * time.Millisecond)
	if _, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{Timeout: 100 * time.Millisecond}, s.progressFn()); err == nil {
		t.Fatal("TakeSnapshot succeeded before the savepoint completed")
	}
	desired := statefulFor(versionN(1), StateRunning)
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpRecover {
		t.Fatalf("plan %s, %v; want recover", plan.Operation, err)
	}
	s.mustApply(desired, OpRecover)
	if len(old.Savepoints()) != 1 || !containsPath(s.snapshotRecords(), old.Savepoints()[0]) {
		t.Errorf("savepoints %q, records %+v; want the savepoint recorded", old.Savepoints(), s.snapshotRecords())
	}
	if c := s.cluster(); c != old || c.JobState() != flink.JobRunning {
		t.Errorf("the job was replaced or stopped: %s", c.JobState())
	}
}

// M7: a JobManager that never becomes ready fails the deployment within readiness_timeout
// (the rollout wait included), and the rollback still runs after the apply's own deadline.
func TestSavepointRedeploy_NewVersionNeverReady_RollsBackWithinItsOwnBudget(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	s.kubelet.setNeverReady("v2") // its pods never become available, its tasks never get slots

	// The rollout wait is bounded by readiness_timeout: the apply's own deadline is far away.
	desired := statefulFor(versionN(2), StateRunning)
	desired.Rollback.ReadinessTimeout = 400 * time.Millisecond
	start := time.Now()
	_, err := s.apply(desired, OpSavepointRedeploy)
	if err == nil {
		t.Fatal("apply succeeded although v2 never became ready")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the failed upgrade took %s; readiness_timeout is 400ms", took)
	}
	wantContains(t, "error", err.Error(), "rolled back to version v1")

	// The apply's deadline passes while v2 is being verified: the rollback still runs.
	desired.Rollback.ReadinessTimeout = 10 * time.Second
	ctx := newDeadline()
	s.onFlink(func(method, path string, _ []byte, _ int) {
		if method == http.MethodGet && strings.HasSuffix(path, "/jobs/"+JobIDFor(testNS, testApp, 4)) {
			time.AfterFunc(50*time.Millisecond, ctx.expire)
		}
	})
	_, err = s.p.Apply(ctx, desired, OpSavepointRedeploy, s.progressFn())
	s.onFlink(nil)
	if err == nil {
		t.Fatal("apply succeeded although v2 never became ready")
	}
	wantContains(t, "error", err.Error(), "rolled back to version v1")
	if c := s.cluster(); c.JobState() != flink.JobRunning || s.record().DeployedVersion != "v1" || s.record().Journal != nil {
		t.Errorf("after the rollback job %s is %s, deployed %s; want v1 running", c.JobID(), c.JobState(), s.record().DeployedVersion)
	}
}

// deadline is a context whose deadline passes when the test says so.
type deadline struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newDeadline() *deadline {
	return &deadline{Context: context.Background(), done: make(chan struct{})}
}

func (d *deadline) expire()               { d.once.Do(func() { close(d.done) }) }
func (d *deadline) Done() <-chan struct{} { return d.done }
func (d *deadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// ingress404 is what an ingress controller's default backend answers for a host or path it
// does not route: not Flink.
func ingress404(r *http.Request) *http.Response {
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body: io.NopCloser(strings.NewReader("404 page not found\n")), Request: r}
}

// flinkJobNotFound is Flink's own answer for a job its JobManager does not know.
func flinkJobNotFound(r *http.Request, jobID string) *http.Response {
	body := `{"errors":["org.apache.flink.runtime.rest.NotFoundException: Job ` + jobID + ` not found\n\tat org.apache.flink...",` +
		`"org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (` + jobID + `)"]}`
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": {"application/json; charset=UTF-8"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}
}

func containsPath(recs []records.SnapshotRecord, path string) bool {
	for _, r := range recs {
		if samePath(r.Path, path) {
			return true
		}
	}
	return false
}

func mustJob(t *testing.T, h *harness, jobID string) flink.JobDetails {
	t.Helper()
	j, err := h.p.Flink(testNS, testApp).Job(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// An adopted path's provenance is unknown: it is not attributed to whatever version runs now.
func TestAdoptSnapshot_RecordsUnknownProvenance(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	snap, err := s.p.AdoptSnapshot(context.Background(), testNS, testApp, s.writeSavepoint("imported/savepoint-x"), records.FormatCanonical, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	if snap.VersionLabel != "" || snap.FlinkVersion != "" || snap.JobID != "" {
		t.Errorf("adopted snapshot attributed to version %q (Flink %q) job %q; its provenance is unknown", snap.VersionLabel, snap.FlinkVersion, snap.JobID)
	}
}

// terraform import of an automatic snapshot puts it under the flink_snapshot: retention no
// longer disposes it.
func TestManageSnapshot_ImportedAutomaticSnapshot_IsNoLongerPruned(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	first := s.upgradeTo(2, Retention{})
	if _, err := s.p.ManageSnapshot(context.Background(), testNS, first.Name); err != nil {
		t.Fatal(err)
	}
	s.upgradeTo(3, Retention{MaxCount: 1})
	s.upgradeTo(4, Retention{MaxCount: 1})
	if rec, ok := s.snapshotRecord(first.Name); !ok || rec.ManagedBy != records.SnapshotManagedByResource || !s.savepointExists(first.Path) {
		t.Errorf("imported snapshot %s: record kept %v (%+v), files kept %v", first.Name, ok, rec, s.savepointExists(first.Path))
	}
}

// A flink_snapshot of an application writes where the application's savepoints go
// (savepoint_directory), not to the provider's default folder.
func TestTakeSnapshot_UsesTheApplicationsSavepointDirectory(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	d := statefulFor(versionN(1), StateRunning)
	d.Savepoint.Directory = snapshotRoot + "/custom/fraud"
	s.mustApply(d, OpDeploy)
	snap, err := s.p.TakeSnapshot(context.Background(), testNS, testApp, SavepointOptions{}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(snap.Path, d.Savepoint.Directory+"/") {
		t.Errorf("snapshot at %s, want it under the application's savepoint_directory %s", snap.Path, d.Savepoint.Directory)
	}
}

// A destroy of an application whose job never started (a failed first apply: the image
// cannot be pulled, so no JobManager ever ran) does not wait savepoint_timeout for a savepoint
// no job can take; one whose job did run never skips its final savepoint.
func TestDelete_JobThatNeverStarted_SkipsTheFinalSavepoint(t *testing.T) {
	t.Parallel()
	for _, verified := range []bool{false, true} {
		s := newStateful(t)
		if verified {
			s.deploy(versionN(1))
		} else {
			s.kubelet.setNeverReady("v1")
			d := statefulFor(versionN(1), StateRunning)
			d.Rollback.ReadinessTimeout = 200 * time.Millisecond
			if _, err := s.apply(d, OpDeploy); err == nil {
				t.Fatal("the first deploy succeeded although its job never became ready")
			}
		}
		s.flinkDown.Store(true) // its JobManager does not answer
		start := time.Now()
		err := s.p.Delete(context.Background(), testNS, testApp, DestroySavepoint, SavepointOptions{Timeout: 2 * time.Second}, s.progressFn())
		switch {
		case !verified && err != nil:
			t.Errorf("destroy of a job that never started: %v", err)
		case !verified && time.Since(start) > time.Second:
			t.Errorf("destroy of a job that never started waited %s for a savepoint", time.Since(start))
		case verified && err == nil:
			t.Error("destroy of a job that ran skipped its final savepoint because its JobManager did not answer")
		}
	}
}
