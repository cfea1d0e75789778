package lifecycle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func secretValues(tag string) spec.SecretValues {
	return spec.SecretValues{
		FlinkConfiguration: map[string]string{"fixture.db.password": "conf-" + tag + "-value"},
		Env:                map[string]string{"API_TOKEN": "env-" + tag + "-value"},
	}
}

func withSecrets(d Desired, values spec.SecretValues, changed bool) Desired {
	d.Secrets, d.SecretsChanged = values, changed
	return d
}

// ownedSecrets lists the application's provider-owned Secrets by name.
func (h *harness) ownedSecrets() map[string]*corev1.Secret {
	h.t.Helper()
	list, err := h.fake.CoreV1().Secrets(testNS).List(context.Background(), metav1.ListOptions{LabelSelector: kube.OwnedSecretSelector(testApp)})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*corev1.Secret{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// noValueOutsideSecrets fails when a value of values appears in any ConfigMap, Deployment,
// Event or progress line.
func (h *harness) noValueOutsideSecrets(values ...spec.SecretValues) {
	h.t.Helper()
	ctx := context.Background()
	var dump strings.Builder
	cms, _ := h.fake.CoreV1().ConfigMaps(testNS).List(ctx, metav1.ListOptions{})
	deps, _ := h.fake.AppsV1().Deployments(testNS).List(ctx, metav1.ListOptions{})
	evs, _ := h.fake.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
	for _, o := range []any{cms, deps, evs, h.progressLines()} {
		b, _ := json.Marshal(o)
		dump.Write(b)
	}
	for _, v := range values {
		for _, m := range []map[string]string{v.FlinkConfiguration, v.Env} {
			for k, val := range m {
				if strings.Contains(dump.String(), val) {
					h.t.Errorf("the value of %s appears outside its Secret", k)
				}
			}
		}
	}
}

func TestClassifySecretsChanged(t *testing.T) {
	v1 := testVersion("v1")
	running := &Current{Version: v1, State: StateRunning, JobID: JobIDFor(testNS, testApp, 1)}
	d := withSecrets(statefulFor(v1, StateRunning), secretValues("a"), true)
	plan := classify(running, d)
	if plan.Operation != OpSavepointRedeploy || !strings.Contains(plan.Summary, "start version v1 with the changed secret settings from it") {
		t.Errorf("running, secrets changed: %s %q; want savepoint_redeploy saying so", plan.Operation, plan.Summary)
	}
	d.SecretsChanged = false
	if plan := classify(running, d); plan.Operation != OpNone {
		t.Errorf("running, same secrets: %s", plan.Operation)
	}
	suspended := &Current{Version: v1, State: StateSuspended}
	d.SecretsChanged = true
	if plan := classify(suspended, withSecrets(statefulFor(v1, StateSuspended), secretValues("a"), true)); plan.Operation != OpNone ||
		!strings.Contains(plan.Summary, "stored for its next start") {
		t.Errorf("suspended, secrets changed: %s %q", plan.Operation, plan.Summary)
	}
	if d.Secrets.String() == "" || strings.Contains(plan.Summary+d.Secrets.String(), "-a-value") {
		t.Errorf("a value is in the words: %q", plan.Summary)
	}
}

// A deploy writes the values to an immutable Secret the record names by keys only; a
// rotation writes a new Secret, redeploys with a savepoint, and deletes the old one; removing
// every value deletes them all.
func TestSecretsDeployRotateRemove(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	v1 := versionN(1)
	a, b := secretValues("a"), secretValues("b")

	res := s.mustApply(withSecrets(statefulFor(v1, StateRunning), a, true), OpDeploy)
	if res.SecretsPending {
		t.Error("deploy: SecretsPending")
	}
	rec := s.record()
	if rec.Secret == nil || rec.Secret.Name != "fraud-secrets-1" || strings.Join(rec.Secret.EnvNames, ",") != "API_TOKEN" ||
		strings.Join(rec.Secret.FlinkConfigurationKeys, ",") != "fixture.db.password" {
		t.Fatalf("record names %+v", rec.Secret)
	}
	secrets := s.ownedSecrets()
	sec := secrets["fraud-secrets-1"]
	if len(secrets) != 1 || sec == nil || !*sec.Immutable || string(sec.Data["env.API_TOKEN"]) != "env-a-value" ||
		len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Name != kube.AppRecordName(testApp) {
		t.Fatalf("Secrets after deploy: %v", secrets)
	}
	jm := s.deployment(kube.JobManagerDeploymentName(testApp))
	if b, _ := json.Marshal(jm.Spec.Template); !strings.Contains(string(b), `"secretName":"fraud-secrets-1"`) ||
		!strings.Contains(string(b), `"name":"fraud-secrets-1","key":"env.API_TOKEN"`) {
		t.Errorf("the JobManager does not read fraud-secrets-1: %s", b)
	}
	s.noValueOutsideSecrets(a)

	// The same values again: nothing to do.
	plan, err := s.p.PlanChange(context.Background(), withSecrets(statefulFor(v1, StateRunning), a, false))
	if err != nil || plan.Operation != OpNone {
		t.Fatalf("unchanged secrets plan %s, %v", plan.Operation, err)
	}

	// Rotation: savepoint, new job with the new Secret, old Secret gone.
	before := s.record().JobID
	rotate := withSecrets(statefulFor(v1, StateRunning), b, true)
	plan, err = s.p.PlanChange(context.Background(), rotate)
	if err != nil || plan.Operation != OpSavepointRedeploy {
		t.Fatalf("rotation plan %s, %v", plan.Operation, err)
	}
	res = s.mustApply(rotate, OpSavepointRedeploy)
	rec = s.record()
	if res.SecretsPending || rec.Secret == nil || rec.Secret.Name != "fraud-secrets-2" || rec.JobID == before || rec.RestorePath == "" {
		t.Errorf("after rotation: pending %v, record %+v job %s restore %q", res.SecretsPending, rec.Secret, rec.JobID, rec.RestorePath)
	}
	secrets = s.ownedSecrets()
	if len(secrets) != 1 || secrets["fraud-secrets-2"] == nil || string(secrets["fraud-secrets-2"].Data["flink-conf.fixture.db.password"]) != "conf-b-value" {
		t.Errorf("Secrets after rotation: %v", secrets)
	}
	s.noValueOutsideSecrets(a, b)

	// Remove all secret settings.
	res = s.mustApply(withSecrets(statefulFor(v1, StateRunning), spec.SecretValues{}, true), OpSavepointRedeploy)
	if rec := s.record(); res.SecretsPending || rec.Secret != nil || len(s.ownedSecrets()) != 0 {
		t.Errorf("after removal: pending %v, record %+v, Secrets %v", res.SecretsPending, rec.Secret, s.ownedSecrets())
	}
	if b, _ := json.Marshal(s.deployment(kube.TaskManagerDeploymentName(testApp)).Spec.Template); strings.Contains(string(b), "fraud-secrets-") {
		t.Errorf("the TaskManager still reads a Secret: %s", b)
	}
}

// A rotation together with a version that fails rolls back to the previous version with the
// previous Secret, kept for it, and reports the secrets as pending.
func TestSecretsRollbackKeepsPreviousSecret(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	a, b := secretValues("a"), secretValues("b")
	s.mustApply(withSecrets(statefulFor(versionN(1), StateRunning), a, true), OpDeploy)
	s.kubelet.setFailVersion("v2", rootCauseMsg)

	res, err := s.apply(withSecrets(statefulFor(versionN(2), StateRunning), b, true), OpSavepointRedeploy)
	if err == nil || !strings.Contains(err.Error(), "rolled back to version v1") {
		t.Fatalf("Apply = %v; want a rollback", err)
	}
	rec := s.record()
	if !res.SecretsPending || rec.Secret == nil || rec.Secret.Name != "fraud-secrets-1" || rec.DeployedVersion != "v1" {
		t.Errorf("after rollback: pending %v, record names %+v, version %s; want v1 with fraud-secrets-1", res.SecretsPending, rec.Secret, rec.DeployedVersion)
	}
	if jm := s.deployment(kube.JobManagerDeploymentName(testApp)); !strings.Contains(mustMarshal(jm.Spec.Template), `"secretName":"fraud-secrets-1"`) {
		t.Error("the rolled back JobManager does not read fraud-secrets-1")
	}
	if secrets := s.ownedSecrets(); secrets["fraud-secrets-1"] == nil {
		t.Errorf("the previous Secret is gone: %v", secrets)
	}
	s.noValueOutsideSecrets(a, b)
}

// A suspended application keeps new values for its resume; destroy deletes the Secrets.
func TestSecretsWhileSuspendedAndDestroy(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	a, b := secretValues("a"), secretValues("b")
	s.mustApply(withSecrets(statefulFor(versionN(1), StateRunning), a, true), OpDeploy)
	s.mustApply(withSecrets(statefulFor(versionN(1), StateSuspended), a, false), OpSuspend)
	res := s.mustApply(withSecrets(statefulFor(versionN(1), StateSuspended), b, true), OpNone)
	if rec := s.record(); res.SecretsPending || rec.Secret == nil || rec.Secret.Name != "fraud-secrets-2" || len(s.ownedSecrets()) != 1 {
		t.Fatalf("suspended rotation: pending %v, record %+v, Secrets %v", res.SecretsPending, rec.Secret, s.ownedSecrets())
	}
	s.mustApply(withSecrets(statefulFor(versionN(1), StateRunning), b, false), OpResume)
	if jm := s.deployment(kube.JobManagerDeploymentName(testApp)); !strings.Contains(mustMarshal(jm.Spec.Template), `"secretName":"fraud-secrets-2"`) {
		t.Error("the resumed JobManager does not read fraud-secrets-2")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.p.Delete(ctx, testNS, testApp, DestroyCancel, SavepointOptions{}, s.progressFn()); err != nil {
		t.Fatal(err)
	}
	if left := s.ownedSecrets(); len(left) != 0 {
		t.Errorf("Secrets left after destroy: %v", left)
	}
	s.noValueOutsideSecrets(a, b)
}

// Conflicting keys fail at plan time, before a running job is stopped.
func TestSecretsConflictFailsThePlan(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	bad := spec.SecretValues{FlinkConfiguration: map[string]string{"pipeline.name": "x"}}
	_, err := s.p.PlanChange(context.Background(), withSecrets(statefulFor(versionN(1), StateRunning), bad, true))
	if err == nil || !strings.Contains(err.Error(), `"pipeline.name" is set both`) {
		t.Errorf("plan error %v; want the key conflict", err)
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
