package lifecycle

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

var (
	jobGen1 = JobIDFor(testNS, testApp, 1)
	jobGen2 = JobIDFor(testNS, testApp, 2)
)

func jmName() string { return kube.JobManagerDeploymentName(testApp) }
func tmName() string { return kube.TaskManagerDeploymentName(testApp) }

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func TestApplyDeploy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.kubelet.timings = flinktest.DefaultTimings() // the job takes a few polls to come up
	v1 := testVersion("v1")
	desired := desiredFor(v1, StateRunning)
	desired.Labels = map[string]string{"team": "risk"}
	desired.Annotations = map[string]string{"owner": "risk@example.com"}

	plan := classify(nil, desired)
	res := h.mustApply(desired, plan.Operation)

	want := Result{Operation: OpDeploy, State: StateRunning, JobID: jobGen1, Status: "RUNNING", DeployedVersionID: "payments/fraud/v1", RecordExists: true}
	if res != want {
		t.Errorf("Result = %+v\nwant     %+v", res, want)
	}

	// The record says what runs.
	rec := h.record()
	if rec.State != StateRunning || rec.JobID != jobGen1 || rec.Generation != 1 || rec.DeployedVersion != "v1" {
		t.Errorf("record state=%q job=%q generation=%d deployed=%q; want running, %s, 1, v1",
			rec.State, rec.JobID, rec.Generation, rec.DeployedVersion, jobGen1)
	}
	if !reflect.DeepEqual(rec.Version, v1) {
		t.Errorf("record version = %+v\nwant %+v", rec.Version, v1)
	}
	if rec.Journal != nil {
		t.Errorf("journal left behind: %+v", rec.Journal)
	}
	if !reflect.DeepEqual(rec.Labels, desired.Labels) || !reflect.DeepEqual(rec.Annotations, desired.Annotations) {
		t.Errorf("record labels %v annotations %v", rec.Labels, rec.Annotations)
	}
	recCM := h.recordConfigMap()
	for k, v := range map[string]string{
		kube.LabelManagedBy: kube.ManagedByValue, kube.LabelName: testApp,
		kube.LabelRecord: kube.RecordApplication, kube.LabelVersion: "v1", "team": "risk",
	} {
		if recCM.Labels[k] != v {
			t.Errorf("record ConfigMap label %s = %q, want %q", k, recCM.Labels[k], v)
		}
	}
	if recCM.UID == "" {
		t.Fatal("record ConfigMap has no UID; the harness should set one")
	}

	// Every object of the cluster is owned by the record, so deleting it cascades.
	ctx := context.Background()
	type owned struct {
		kind, name string
		meta       metav1.ObjectMeta
	}
	var objects []owned
	for _, n := range []string{jmName(), tmName()} {
		objects = append(objects, owned{"Deployment", n, h.deployment(n).ObjectMeta})
	}
	for _, n := range []string{kube.RestServiceName(testApp), kube.JobManagerServiceName(testApp)} {
		svc, err := h.fake.CoreV1().Services(testNS).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Service %s: %v", n, err)
		}
		objects = append(objects, owned{"Service", n, svc.ObjectMeta})
	}
	cfg, err := h.fake.CoreV1().ConfigMaps(testNS).Get(ctx, kube.ConfigMapName(testApp), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("config ConfigMap: %v", err)
	}
	objects = append(objects, owned{"ConfigMap", cfg.Name, cfg.ObjectMeta})
	for _, o := range objects {
		refs := o.meta.OwnerReferences
		if len(refs) != 1 {
			t.Errorf("%s %s: %d owner references, want 1 (the record)", o.kind, o.name, len(refs))
			continue
		}
		r := refs[0]
		if r.APIVersion != "v1" || r.Kind != "ConfigMap" || r.Name != kube.AppRecordName(testApp) || r.UID != recCM.UID ||
			r.Controller == nil || !*r.Controller || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
			t.Errorf("%s %s: owner reference %+v, want controller reference to ConfigMap %s (uid %s)",
				o.kind, o.name, r, kube.AppRecordName(testApp), recCM.UID)
		}
		if o.meta.Labels["team"] != "risk" || o.meta.Labels[kube.LabelVersion] != "v1" || o.meta.Annotations["owner"] != "risk@example.com" {
			t.Errorf("%s %s: labels %v annotations %v", o.kind, o.name, o.meta.Labels, o.meta.Annotations)
		}
		if len(o.meta.ManagedFields) == 0 || o.meta.ManagedFields[0].Manager != kube.FieldManager {
			t.Errorf("%s %s: not server-side applied by %s: %+v", o.kind, o.name, kube.FieldManager, o.meta.ManagedFields)
		}
	}

	jm, tm := h.deployment(jmName()), h.deployment(tmName())
	if replicasOf(jm) != 1 || replicasOf(tm) != 2 {
		t.Errorf("replicas jobmanager=%d taskmanager=%d, want 1 and 2 (parallelism 2, 1 slot each)", replicasOf(jm), replicasOf(tm))
	}
	if got := jobIDArg(jm); got != jobGen1 {
		t.Errorf("JobManager --job-id %q, want %q", got, jobGen1)
	}
	if img := jm.Spec.Template.Spec.Containers[0].Image; img != v1.Image {
		t.Errorf("JobManager image %q", img)
	}

	// Flink runs the job with that id.
	c := h.cluster()
	if c.JobID() != jobGen1 || c.JobState() != flink.JobRunning {
		t.Errorf("emulated job %s is %s, want %s RUNNING", c.JobID(), c.JobState(), jobGen1)
	}
	for name, st := range c.VertexStates() {
		if st != flink.TaskRunning {
			t.Errorf("vertex %s is %s", name, st)
		}
	}
	if starts := h.kubelet.startsSoFar(); len(starts) != 1 {
		t.Errorf("JobManager started %d times, want 1: %+v", len(starts), starts)
	}

	// The user sees what happens, and an Event records it on the application.
	lines := h.progressLines()
	for _, want := range []string{plan.Summary, "fraud: waiting for the JobManager and TaskManager rollout", "fraud: waiting for job 41619a05… to run"} {
		if !slices.Contains(lines, want) {
			t.Errorf("progress lacks %q: %q", want, lines)
		}
	}
	if ev := h.events(); !slices.Contains(ev, "Normal/"+EventDeployed+": "+plan.Summary) {
		t.Errorf("events %q lack the Deployed event", ev)
	}

	obs, err := h.p.Observe(ctx, testNS, testApp)
	if err != nil || obs == nil {
		t.Fatalf("Observe: %v %v", obs, err)
	}
	if obs.State != StateRunning || obs.Status != flink.JobRunning || obs.JobID != jobGen1 || obs.Version.Label != "v1" {
		t.Errorf("Observe after deploy: %+v", obs)
	}
	// Planning the same configuration again changes nothing.
	if p, err := h.p.PlanChange(ctx, desired); err != nil || p.Operation != OpNone {
		t.Errorf("PlanChange after deploy = %+v, %v; want none", p, err)
	}
}

func TestApplyStatelessRedeploy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.kubelet.timings = flinktest.DefaultTimings() // cancelling and starting take a few polls
	h.deploy(testVersion("v1"))
	old := h.cluster()

	v2 := testVersion("v2")
	v2.Image = "registry.example.com/fraud:1.5.0"
	v2.ParentVersionID = "payments/fraud/v1"
	desired := desiredFor(v2, StateRunning)
	plan, err := h.p.PlanChange(context.Background(), desired)
	if err != nil || plan.Operation != OpStatelessRedeploy {
		t.Fatalf("PlanChange = %+v, %v; want stateless_redeploy", plan, err)
	}
	res := h.mustApply(desired, plan.Operation)

	if res.Operation != OpStatelessRedeploy || res.JobID != jobGen2 || res.Status != "RUNNING" || res.DeployedVersionID != "payments/fraud/v2" {
		t.Errorf("Result = %+v", res)
	}
	if res.JobID == jobGen1 {
		t.Errorf("redeploy kept the old job id")
	}
	// The old job was cancelled (Flink says CANCELED) before the new JobManager started.
	starts := h.kubelet.startsSoFar()
	if len(starts) != 2 {
		t.Fatalf("JobManager starts %+v, want 2", starts)
	}
	if s := starts[1]; s.JobID != jobGen2 || s.PreviousJobID != jobGen1 || s.PreviousState != flink.JobCanceled {
		t.Errorf("second start %+v: want job %s replacing %s in state CANCELED", s, jobGen2, jobGen1)
	}
	if st := old.JobState(); st != flink.JobCanceled {
		t.Errorf("old job is %s, want CANCELED", st)
	}
	if c := h.cluster(); c.JobID() != jobGen2 || c.JobState() != flink.JobRunning {
		t.Errorf("new job %s is %s", c.JobID(), c.JobState())
	}

	rec := h.record()
	if rec.Generation != 2 || rec.JobID != jobGen2 || rec.State != StateRunning || rec.DeployedVersion != "v2" || rec.Version.Image != v2.Image {
		t.Errorf("record after redeploy: generation=%d job=%s state=%s deployed=%s image=%s",
			rec.Generation, rec.JobID, rec.State, rec.DeployedVersion, rec.Version.Image)
	}
	jm := h.deployment(jmName())
	if jobIDArg(jm) != jobGen2 || jm.Spec.Template.Spec.Containers[0].Image != v2.Image || jm.Labels[kube.LabelVersion] != "v2" {
		t.Errorf("JobManager Deployment not updated: job %s image %s labels %v", jobIDArg(jm), jm.Spec.Template.Spec.Containers[0].Image, jm.Labels)
	}
	wantLine := "fraud: cancelling job 41619a05…"
	if !slices.Contains(h.progressLines(), wantLine) {
		t.Errorf("progress lacks %q: %q", wantLine, h.progressLines())
	}
	cancelAt, startAt := slices.Index(h.progressLines(), wantLine), slices.Index(h.progressLines(), "fraud: waiting for job "+jobGen2[:8]+"… to run")
	if cancelAt < 0 || startAt < cancelAt {
		t.Errorf("cancel (line %d) must come before waiting for the new job (line %d): %q", cancelAt, startAt, h.progressLines())
	}
}

func TestApplyCancelAndRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	v1 := testVersion("v1")
	h.deploy(v1)

	res := h.mustApply(desiredFor(v1, StateCancelled), OpCancel)
	if want := (Result{Operation: OpCancel, State: StateCancelled, JobID: jobGen1, Status: StatusStopped, DeployedVersionID: "payments/fraud/v1", RecordExists: true}); res != want {
		t.Errorf("cancel Result = %+v\nwant %+v", res, want)
	}
	for _, n := range []string{jmName(), tmName()} {
		if r := replicasOf(h.deployment(n)); r != 0 {
			t.Errorf("%s has %d replicas after cancel, want 0", n, r)
		}
	}
	rec := h.record()
	if rec.State != StateCancelled || rec.Generation != 1 || rec.JobID != jobGen1 {
		t.Errorf("record after cancel: state=%s generation=%d job=%s", rec.State, rec.Generation, rec.JobID)
	}
	// The job was cancelled through Flink before its pods went away.
	stops := h.kubelet.stopsSoFar()
	if len(stops) != 1 || stops[0].PreviousJobID != jobGen1 || stops[0].PreviousState != flink.JobCanceled {
		t.Errorf("JobManager scaled away %+v; want job %s CANCELED first", stops, jobGen1)
	}
	if h.emu.Cluster(h.host()) != nil {
		t.Errorf("a JobManager still serves %s", h.host())
	}
	obs, err := h.p.Observe(context.Background(), testNS, testApp)
	if err != nil || obs.State != StateCancelled || obs.Status != StatusStopped {
		t.Errorf("Observe after cancel = %+v, %v", obs, err)
	}

	// Cancelling again is nothing to do.
	if p := classify(&obs.Current, desiredFor(v1, StateCancelled)); p.Operation != OpNone {
		t.Errorf("Classify cancelled->cancelled = %s", p.Operation)
	}

	// Restart: a new generation, scaled up again, running.
	plan, err := h.p.PlanChange(context.Background(), desiredFor(v1, StateRunning))
	if err != nil || plan.Operation != OpDeploy {
		t.Fatalf("PlanChange restart = %+v, %v; want deploy", plan, err)
	}
	wantContains(t, "restart summary", plan.Summary, "start version v1", "with empty state")
	res = h.mustApply(desiredFor(v1, StateRunning), plan.Operation)
	if res.JobID != jobGen2 || res.Status != "RUNNING" {
		t.Errorf("restart Result = %+v", res)
	}
	if r := replicasOf(h.deployment(jmName())); r != 1 {
		t.Errorf("JobManager replicas %d after restart", r)
	}
	if r := replicasOf(h.deployment(tmName())); r != 2 {
		t.Errorf("TaskManager replicas %d after restart", r)
	}
	if c := h.cluster(); c.JobID() != jobGen2 || c.JobState() != flink.JobRunning {
		t.Errorf("restarted job %s is %s", c.JobID(), c.JobState())
	}
	if n := strings.Count(strings.Join(h.progressLines(), "\n"), "cancelling job"); n != 1 {
		t.Errorf("restart of a cancelled application tried to cancel again: %q", h.progressLines())
	}
	if rec := h.record(); rec.State != StateRunning || rec.Generation != 2 {
		t.Errorf("record after restart: %+v", rec)
	}
}

// A plan made against v1 with desired v2 and state cancelled says deployed_version_id = v2
// (the resource's ModifyPlan sets it to version_id). Apply must report and record v2, or
// Terraform fails with "Provider produced inconsistent result after apply".
func TestApply_CancelWithNewVersion_RecordsDesiredVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(testVersion("v1"))
	v2 := testVersion("v2")
	v2.Parallelism = 4

	desired := desiredFor(v2, StateCancelled)
	plan, err := h.p.PlanChange(context.Background(), desired)
	if err != nil || plan.Operation != OpCancel {
		t.Fatalf("PlanChange = %+v, %v; want cancel", plan, err)
	}
	res := h.mustApply(desired, plan.Operation)
	if res.DeployedVersionID != v2.ID() {
		t.Errorf("Result.DeployedVersionID = %q, want %q (the version the plan showed)", res.DeployedVersionID, v2.ID())
	}
	if rec := h.record(); rec.DeployedVersion != "v2" || rec.Version.Parallelism != 4 {
		t.Errorf("record keeps version %s (parallelism %d) after applying v2 cancelled", rec.DeployedVersion, rec.Version.Parallelism)
	}
	if h.emu.Cluster(h.host()) != nil {
		t.Errorf("cluster still served after cancel")
	}
}

func TestApplyCreateCancelledThenStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	v1 := testVersion("v1")
	res := h.mustApply(desiredFor(v1, StateCancelled), OpNone)
	if want := (Result{Operation: OpNone, State: StateCancelled, Status: StatusStopped, DeployedVersionID: "payments/fraud/v1", RecordExists: true}); res != want {
		t.Errorf("Result = %+v\nwant %+v", res, want)
	}
	rec := h.record()
	if rec.State != StateCancelled || rec.JobID != "" || rec.Generation != 0 || rec.DeployedVersion != "v1" {
		t.Errorf("record of an application created cancelled: %+v", rec)
	}
	if _, err := h.fake.AppsV1().Deployments(testNS).Get(context.Background(), jmName(), metav1.GetOptions{}); err == nil {
		t.Errorf("an application created cancelled got a JobManager Deployment")
	}
	if n := h.flinkRequests.Load(); n != 0 {
		t.Errorf("%d Flink requests for an application that never ran", n)
	}

	res = h.mustApply(desiredFor(v1, StateRunning), OpDeploy)
	if res.JobID != jobGen1 || res.Status != "RUNNING" {
		t.Errorf("start Result = %+v", res)
	}
	if c := h.cluster(); c.JobID() != jobGen1 || c.JobState() != flink.JobRunning {
		t.Errorf("job %s is %s", c.JobID(), c.JobState())
	}
}

func TestApplyNoneOnIdenticalRuntimeSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	v1 := testVersion("v1")
	h.deploy(v1)
	jmBefore := h.deployment(jmName())

	v2 := testVersion("v2") // same runtime spec, new label, description, lineage
	v2.ParentVersionID = v1.ID()
	desired := desiredFor(v2, StateRunning)
	desired.Labels = map[string]string{"team": "risk"}
	plan, err := h.p.PlanChange(context.Background(), desired)
	if err != nil || plan.Operation != OpNone {
		t.Fatalf("PlanChange = %+v, %v; want none", plan, err)
	}
	wantContains(t, "summary", plan.Summary, "version v2 runs the same artifact and configuration as v1")

	res := h.mustApply(desired, plan.Operation)
	if want := (Result{Operation: OpNone, State: StateRunning, JobID: jobGen1, Status: "RUNNING", DeployedVersionID: "payments/fraud/v2", RecordExists: true}); res != want {
		t.Errorf("Result = %+v\nwant %+v", res, want)
	}
	rec := h.record()
	if rec.JobID != jobGen1 || rec.Generation != 1 || rec.State != StateRunning || rec.DeployedVersion != "v2" ||
		rec.Version.Label != "v2" || rec.Version.ParentVersionID != v1.ID() {
		t.Errorf("record after none: job=%s generation=%d state=%s deployed=%s version=%+v",
			rec.JobID, rec.Generation, rec.State, rec.DeployedVersion, rec.Version)
	}
	if l := h.recordConfigMap().Labels; l[kube.LabelVersion] != "v2" || l["team"] != "risk" {
		t.Errorf("record ConfigMap labels %v", l)
	}
	// Nothing restarted: same pod template, same JobManager, same job.
	jm := h.deployment(jmName())
	if !reflect.DeepEqual(jm.Spec.Template, jmBefore.Spec.Template) {
		t.Errorf("JobManager pod template changed: a restart for a records-only change")
	}
	if jm.Labels[kube.LabelVersion] != "v2" || jm.Labels["team"] != "risk" {
		t.Errorf("JobManager Deployment labels %v, want version v2 and team=risk", jm.Labels)
	}
	if starts := h.kubelet.startsSoFar(); len(starts) != 1 {
		t.Errorf("JobManager restarted: %+v", starts)
	}
	if c := h.cluster(); c.JobID() != jobGen1 || c.JobState() != flink.JobRunning {
		t.Errorf("job %s is %s", c.JobID(), c.JobState())
	}
	if slices.ContainsFunc(h.progressLines(), func(l string) bool { return strings.Contains(l, "cancelling") }) {
		t.Errorf("none cancelled something: %q", h.progressLines())
	}
}

// At plan time a version created in the same apply has no record, so the plan says
// stateless_redeploy; if its spec turns out identical, apply still does what the plan showed.
func TestApplyPlannedRedeployOfIdenticalSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(testVersion("v1"))
	res := h.mustApply(desiredFor(testVersion("v2"), StateRunning), OpStatelessRedeploy)
	if res.Operation != OpStatelessRedeploy || res.JobID != jobGen2 || res.DeployedVersionID != "payments/fraud/v2" {
		t.Errorf("Result = %+v", res)
	}
	starts := h.kubelet.startsSoFar()
	if len(starts) != 2 || starts[1].PreviousState != flink.JobCanceled {
		t.Errorf("starts %+v: want the old job CANCELED and a new one", starts)
	}
}

func TestApplyRefusesWhenPlanIsStale(t *testing.T) {
	t.Parallel()
	v1 := testVersion("v1")
	v2 := testVersion("v2")
	v2.FlinkConfiguration = map[string]string{"pipeline.name": "fraud-v2"}
	cases := []struct {
		name    string
		setup   func(h *harness)
		desired Desired
		planned Operation
		wantErr []string
	}{
		{
			name: "plan said none, spec now differs", setup: func(h *harness) { h.deploy(v1) },
			desired: desiredFor(v2, StateRunning), planned: OpNone,
			wantErr: []string{"payments/fraud changed since the plan", "the plan said none", "now needs stateless_redeploy"},
		},
		{
			name: "plan said deploy, application exists now", setup: func(h *harness) { h.deploy(v1) },
			desired: desiredFor(v2, StateRunning), planned: OpDeploy,
			wantErr: []string{"the plan said deploy", "now needs stateless_redeploy"},
		},
		{
			name: "plan said cancel, configuration keeps it running", setup: func(h *harness) { h.deploy(v1) },
			desired: desiredFor(v1, StateRunning), planned: OpCancel,
			wantErr: []string{"the plan said cancel", "now needs none"},
		},
		{
			name: "plan said redeploy, record deleted since", setup: func(h *harness) {},
			desired: desiredFor(v1, StateRunning), planned: OpStatelessRedeploy,
			wantErr: []string{"the plan said stateless_redeploy", "now needs deploy"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tc.setup(h)
			var before *records.AppRecord
			if rec, _, err := h.p.Records().GetAppRecord(context.Background(), testNS, testApp); err == nil {
				before = &rec
			}
			startsBefore := len(h.kubelet.startsSoFar())
			actionsBefore := len(h.fake.Actions())

			res, err := h.apply(tc.desired, tc.planned)
			if err == nil {
				t.Fatalf("Apply succeeded (%+v), want a stale-plan error", res)
			}
			wantContains(t, "error", err.Error(), tc.wantErr...)
			var stale *StalePlanError
			if !errors.As(err, &stale) || stale.Planned != tc.planned {
				t.Errorf("error %v is no StalePlanError for the planned %s", err, tc.planned)
			}
			if res.RecordExists || res.JobID != "" {
				t.Errorf("Result of a refused apply = %+v, want zero", res)
			}
			// Nothing changed: same record, no new generation, no restart, no writes.
			if before == nil {
				if _, _, err := h.p.Records().GetAppRecord(context.Background(), testNS, testApp); err == nil {
					t.Errorf("a refused apply created the record")
				}
			} else if after := h.record(); !reflect.DeepEqual(after, *before) {
				t.Errorf("record changed:\n%+v\nwas\n%+v", after, *before)
			}
			if n := len(h.kubelet.startsSoFar()); n != startsBefore {
				t.Errorf("JobManager (re)started by a refused apply")
			}
			for _, a := range h.fake.Actions()[actionsBefore:] {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetResource().Resource != "leases" {
					t.Errorf("a refused apply wrote to Kubernetes: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
			if before != nil {
				if c := h.cluster(); c.JobID() != jobGen1 || c.JobState() != flink.JobRunning {
					t.Errorf("running job disturbed: %s %s", c.JobID(), c.JobState())
				}
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(testVersion("v1"))
	c := h.cluster()
	ctx := context.Background()
	if err := h.p.Delete(ctx, testNS, testApp, DestroyCancel, SavepointOptions{}, h.progressFn()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if st := c.JobState(); st != flink.JobCanceled {
		t.Errorf("job is %s after Delete, want CANCELED", st)
	}
	if _, _, err := h.p.Records().GetAppRecord(ctx, testNS, testApp); err == nil {
		t.Errorf("record still exists")
	}
	for _, n := range []string{jmName(), tmName()} {
		if _, err := h.fake.AppsV1().Deployments(testNS).Get(ctx, n, metav1.GetOptions{}); err == nil {
			t.Errorf("Deployment %s still exists", n)
		}
	}
	if obs, err := h.p.Observe(ctx, testNS, testApp); err != nil || obs != nil {
		t.Errorf("Observe after Delete = %+v, %v; want nil, nil", obs, err)
	}
	// Deleting what is gone succeeds.
	if err := h.p.Delete(ctx, testNS, testApp, DestroyCancel, SavepointOptions{}, h.progressFn()); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}
