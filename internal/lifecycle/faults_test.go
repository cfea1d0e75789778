package lifecycle

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

const rootCauseMsg = "Kafka topic payments-in does not exist"

// The new job fails: Apply says why (Flink's root exception), and the application stays
// in state (its record exists) so that the next plan shows the drift and retries.
func TestApplyNewJobFails(t *testing.T) {
	t.Parallel()
	v2 := testVersion("v2")
	v2.Image = "registry.example.com/fraud:1.5.0"
	cases := []struct {
		name         string
		flinkVersion string
		redeploy     bool
		wantJob      string
	}{
		{name: "deploy, Flink 1.20", flinkVersion: "1.20.1", wantJob: jobGen1},
		{name: "deploy, Flink 2.1 (exception history only)", flinkVersion: "2.1.0", wantJob: jobGen1},
		{name: "stateless redeploy, Flink 1.20", flinkVersion: "1.20.1", redeploy: true, wantJob: jobGen2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.kubelet.flinkVersion = tc.flinkVersion
			desired := desiredFor(testVersion("v1"), StateRunning)
			planned := OpDeploy
			if tc.redeploy {
				h.deploy(testVersion("v1"))
				desired, planned = desiredFor(v2, StateRunning), OpStatelessRedeploy
			}
			h.kubelet.setOnStart(func(c *flinktest.Cluster) { c.Fail(rootCauseMsg) })

			start := time.Now()
			res, err := h.apply(desired, planned)
			if err == nil {
				t.Fatalf("Apply succeeded although the job failed: %+v", res)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Apply took %v to notice a FAILED job; it should fail at once", d)
			}
			wantContains(t, "error", err.Error(), "job "+tc.wantJob, "payments/fraud", "FAILED", rootCauseMsg)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error carries a stack trace, want the first line only:\n%s", err)
			}
			if !res.RecordExists || res.JobID != tc.wantJob || res.Operation != planned {
				t.Errorf("Result = %+v: want RecordExists with job %s", res, tc.wantJob)
			}
			// Nothing lost: the record names the failed job, Observe reports the drift.
			rec := h.record()
			if rec.JobID != tc.wantJob || rec.State != StateRunning {
				t.Errorf("record job=%s state=%s", rec.JobID, rec.State)
			}
			obs, oerr := h.p.Observe(context.Background(), testNS, testApp)
			if oerr != nil || obs.State != StateCancelled || obs.Status != flink.JobFailed {
				t.Errorf("Observe after failure = %+v, %v; want state cancelled, status FAILED", obs, oerr)
			}
			if p := classify(&obs.Current, desired); p.Operation != OpDeploy {
				t.Errorf("next plan = %s, want a restart", p.Operation)
			}
			if ev := strings.Join(h.events(), "\n"); !strings.Contains(ev, "Warning/ApplyFailed: ") || !strings.Contains(ev, rootCauseMsg) {
				t.Errorf("no ApplyFailed Warning event with the cause:\n%s", ev)
			}
		})
	}
}

// stuckApply deploys v1 with TaskManagers that never register: the job stays RUNNING with
// its tasks SCHEDULED, waiting for slots, until the apply's deadline (the resource's
// create/update timeout).
func stuckApply(t *testing.T) (*harness, Result, error) {
	t.Helper()
	h := newHarness(t)
	h.kubelet.setRegisterTaskManagers(false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := h.p.Apply(ctx, desiredFor(testVersion("v1"), StateRunning), OpDeploy, h.progressFn())
	if err == nil {
		t.Fatalf("Apply succeeded although no TaskManager registered: %+v", res)
	}
	return h, res, err
}

func TestApplyJobNeverHealthy_TimesOut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// readiness sets rollback.readiness_timeout; else the apply's context times out.
		readiness time.Duration
	}{
		{name: "apply deadline"},
		{name: "readiness timeout", readiness: 1500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				h   *harness
				res Result
				err error
			)
			if tc.readiness == 0 {
				h, res, err = stuckApply(t)
			} else {
				h = newHarness(t)
				h.kubelet.setRegisterTaskManagers(false)
				desired := desiredFor(testVersion("v1"), StateRunning)
				desired.Rollback.ReadinessTimeout = tc.readiness
				start := time.Now()
				res, err = h.apply(desired, OpDeploy)
				if err == nil {
					t.Fatalf("Apply succeeded although no TaskManager registered: %+v", res)
				}
				if d := time.Since(start); d > tc.readiness+3*time.Second {
					t.Errorf("Apply took %v with a readiness timeout of %v", d, tc.readiness)
				}
				if !res.RecordExists {
					t.Errorf("Result.RecordExists = false after a readiness timeout")
				}
			}
			wantContains(t, "error", err.Error(), "payments/fraud", "job "+jobGen1, "was not running before the timeout", "last seen: job RUNNING")
			if res.JobID != jobGen1 || res.Operation != OpDeploy {
				t.Errorf("Result = %+v", res)
			}
			// Nothing lost: the record exists and names the job, which still waits for slots.
			if rec := h.record(); rec.JobID != jobGen1 || rec.State != StateRunning || rec.Generation != 1 {
				t.Errorf("record %+v", rec)
			}
			for name, st := range h.cluster().VertexStates() {
				if st != flink.TaskScheduled {
					t.Errorf("vertex %s is %s, want SCHEDULED (no slots)", name, st)
				}
			}
		})
	}
}

// After the deadline, Apply still reports that the record exists (asked with a fresh
// context), so the resource keeps an application whose record and cluster exist. (Once a
// bug: the expired context made the check fail and the resource forgot it.)
func TestApplyJobNeverHealthy_ResultRecordExists(t *testing.T) {
	t.Parallel()
	h, res, _ := stuckApply(t)
	if !res.RecordExists {
		t.Errorf("Result.RecordExists = false after a timeout, but the record exists (%s, job %s): "+
			"Terraform would drop the application from state", h.record().State, h.record().JobID)
	}
}

// BUG (same cause): the ApplyFailed Event is written with the expired context and lost.
func TestApplyJobNeverHealthy_RecordsApplyFailedEvent(t *testing.T) {
	t.Parallel()
	h, _, _ := stuckApply(t)
	if ev := h.events(); !slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "Warning/ApplyFailed: ") }) {
		t.Errorf("no ApplyFailed Warning event after a timeout; events: %q", ev)
	}
}

// BUG (minor): the timeout error says the job "was not running (last seen: job RUNNING)";
// what was wrong were its tasks, SCHEDULED for lack of TaskManager slots.
func TestApplyJobNeverHealthy_TimeoutErrorNamesWaitingTasks(t *testing.T) {
	t.Parallel()
	_, _, err := stuckApply(t)
	if !strings.Contains(err.Error(), flink.TaskScheduled) {
		t.Errorf("timeout error does not say the tasks were still SCHEDULED (waiting for slots):\n%s", err)
	}
}

// Transient Flink REST failures while waiting for the new job are retried.
func TestApplyRetriesTransientFlinkErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		inject  func(f *flinktest.Faults, jobID string)
		wantErr []string // empty: Apply must succeed
	}{
		{name: "502 Bad Gateway x3", inject: func(f *flinktest.Faults, id string) {
			f.FailNext(http.MethodGet, "/jobs/"+id, http.StatusBadGateway, 3)
		}},
		{name: "503 leader election x3", inject: func(f *flinktest.Faults, id string) {
			f.FailNext(http.MethodGet, "/jobs/"+id, http.StatusServiceUnavailable, 3)
		}},
		{name: "500 internal error x2", inject: func(f *flinktest.Faults, id string) {
			f.FailNext(http.MethodGet, "/jobs/"+id, http.StatusInternalServerError, 2)
		}},
		{name: "504 then 404 (job not submitted yet)", inject: func(f *flinktest.Faults, id string) {
			f.FailNext(http.MethodGet, "/jobs/"+id, http.StatusGatewayTimeout, 1)
			f.RespondNext(http.MethodGet, "/jobs/"+id, http.StatusNotFound, "application/json", flinktest.JobNotFound(id), 2)
		}},
		{name: "connection reset x2", inject: func(f *flinktest.Faults, id string) { f.AbortNext(http.MethodGet, "/jobs/"+id, 2) }},
		{
			name:    "403 Forbidden is not retried",
			inject:  func(f *flinktest.Faults, id string) { f.FailNext(http.MethodGet, "/jobs/"+id, http.StatusForbidden, 1) },
			wantErr: []string{"payments/fraud", "GET /jobs/" + jobGen1, "403"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.kubelet.setOnStart(func(c *flinktest.Cluster) { tc.inject(c.Faults(), c.JobID()) })
			start := time.Now()
			res, err := h.apply(desiredFor(testVersion("v1"), StateRunning), OpDeploy)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Apply succeeded: %+v", res)
				}
				wantContains(t, "error", err.Error(), tc.wantErr...)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("a permanent error took %v: it should not be retried until the deadline", d)
				}
				if !res.RecordExists {
					t.Errorf("RecordExists false after the record was written")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.JobID != jobGen1 || res.Status != "RUNNING" {
				t.Errorf("Result = %+v", res)
			}
			// Every injected failure was consumed by Apply's polling: the next request succeeds.
			job, err := h.p.Flink(testNS, testApp).Job(context.Background(), jobGen1)
			if err != nil || !flink.JobHealthy(job) {
				t.Errorf("job after Apply: %+v, %v (faults left over?)", job.State, err)
			}
		})
	}
}

// A conflicting write of the application record is retried from a fresh read.
func TestApplyRetriesRecordWriteConflicts(t *testing.T) {
	t.Parallel()
	v2 := testVersion("v2")
	v2.Image = "registry.example.com/fraud:1.5.0"
	alreadyExists := func() error {
		return apierrors.NewAlreadyExists(corev1.Resource("configmaps"), kube.AppRecordName(testApp))
	}
	cases := []struct {
		name     string
		existing bool // deploy v1 first
		verb     string
		times    int
		fail     func() error
		desired  Desired
		planned  Operation
		wantGen  int64
		wantErr  []string
	}{
		{name: "409 on the first update (redeploy)", existing: true, verb: "update", times: 1, fail: conflictErr,
			desired: desiredFor(v2, StateRunning), planned: OpStatelessRedeploy, wantGen: 2},
		{name: "409 twice (records-only change)", existing: true, verb: "update", times: 2, fail: conflictErr,
			desired: desiredFor(testVersion("v1b"), StateRunning), planned: OpNone, wantGen: 1},
		{name: "409 on the first update (cancel)", existing: true, verb: "update", times: 1, fail: conflictErr,
			desired: desiredFor(testVersion("v1"), StateCancelled), planned: OpCancel, wantGen: 1},
		{name: "AlreadyExists on the first create (deploy)", verb: "create", times: 1, fail: alreadyExists,
			desired: desiredFor(testVersion("v1"), StateRunning), planned: OpDeploy, wantGen: 1},
		{name: "409 forever gives up with a clear error", existing: true, verb: "update", times: 1000, fail: conflictErr,
			desired: desiredFor(v2, StateRunning), planned: OpStatelessRedeploy, wantGen: 1,
			wantErr: []string{"application record payments/fraud-flink-application", "gave up after repeated conflicts"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tc.existing {
				h.deploy(testVersion("v1"))
			}
			hits := h.failRecordWrites(tc.verb, tc.times, tc.fail)
			res, err := h.apply(tc.desired, tc.planned)
			if hits.Load() == 0 {
				t.Fatalf("the injected %s failure was never hit", tc.verb)
			}
			rec := h.record()
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Apply succeeded: %+v", res)
				}
				wantContains(t, "error", err.Error(), tc.wantErr...)
				if !res.RecordExists {
					t.Errorf("RecordExists false, but the record exists")
				}
				// Nothing lost: without its journal written, the operation did not start.
				// The record still describes the old deployment, whose job runs on.
				if rec.Generation != 1 || rec.JobID != jobGen1 || rec.DeployedVersion != "v1" || rec.Journal != nil {
					t.Errorf("record changed although no write succeeded: %+v", rec)
				}
				if c := h.cluster(); c.JobID() != jobGen1 || c.JobState() != flink.JobRunning {
					t.Errorf("job %s is %s; want the old job running untouched", c.JobID(), c.JobState())
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply after %d injected %s failure(s): %v", hits.Load(), tc.verb, err)
			}
			if hits.Load() != int64(tc.times) {
				t.Errorf("%d of %d injected failures hit", hits.Load(), tc.times)
			}
			if rec.Generation != tc.wantGen || rec.DeployedVersion != tc.desired.Version.Label || rec.State != tc.desired.State {
				t.Errorf("record generation=%d deployed=%s state=%s; want %d, %s, %s",
					rec.Generation, rec.DeployedVersion, rec.State, tc.wantGen, tc.desired.Version.Label, tc.desired.State)
			}
			if rec.State == StateRunning {
				if c := h.cluster(); c.JobID() != rec.JobID || c.JobState() != flink.JobRunning {
					t.Errorf("job %s is %s, record says %s", c.JobID(), c.JobState(), rec.JobID)
				}
			}
		})
	}
}

// Retryable errors on cancelJob's cancel request and status reads (a 503 during a JobManager
// leader election) are retried, and the old job is cancelled through Flink. (Once a bug: it
// was read as "nothing runs there" and the job was killed with its pod.)
func TestApply_StatelessRedeploy_TransientErrorBeforeCancel_StillCancelsOldJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(testVersion("v1"))
	old := h.cluster()
	// The first GET is Apply's observation of the current job, the second cancelJob's.
	old.Faults().FailNext(http.MethodGet, "/jobs/"+jobGen1, http.StatusServiceUnavailable, 2)
	old.Faults().FailNext(http.MethodPatch, "/jobs/"+jobGen1, http.StatusServiceUnavailable, 2)

	v2 := testVersion("v2")
	v2.Image = "registry.example.com/fraud:1.5.0"
	if _, err := h.apply(desiredFor(v2, StateRunning), OpStatelessRedeploy); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	starts := h.kubelet.startsSoFar()
	if len(starts) != 2 {
		t.Fatalf("starts %+v", starts)
	}
	if s := starts[1]; s.PreviousJobID != jobGen1 || s.PreviousState != flink.JobCanceled {
		t.Errorf("new JobManager started while old job %s was %s; want it CANCELED first (cancellation skipped after a 503)",
			s.PreviousJobID, s.PreviousState)
	}
}
