package lifecycle

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// haFor is statefulFor with Kubernetes HA on.
func haFor(n int, state string) Desired {
	d := statefulFor(versionN(n), state)
	d.HighAvailability = true
	return d
}

func haDir(gen int64) string {
	return snapshotRoot + "/ha/" + testNS + "/" + kube.HAClusterID(testApp, gen)
}

// writeHAData does what Flink's HA services do while generation gen runs: ConfigMaps
// labelled with the cluster id (leader election and job graph; the job's checkpoints) and
// files under the storage directory.
func (s *stateful) writeHAData(gen int64) {
	s.t.Helper()
	cid := kube.HAClusterID(testApp, gen)
	for _, name := range []string{cid + "-cluster-config-map", cid + "-" + JobIDFor(testNS, testApp, gen) + "-config-map"} {
		_, err := s.fake.CoreV1().ConfigMaps(testNS).Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{kube.FlinkLabelApp: cid, kube.FlinkLabelType: kube.FlinkLabelTypeNative}},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			s.t.Fatal(err)
		}
	}
	for _, rel := range []string{"default/submittedJobGraph01", "job-result-store/default/" + JobIDFor(testNS, testApp, gen) + ".json"} {
		if err := s.store.Bucket().WriteAll(context.Background(), strings.TrimPrefix(haDir(gen), snapshotRoot+"/")+"/"+rel, []byte("x"), nil); err != nil {
			s.t.Fatal(err)
		}
	}
}

// haDataOf reports whether any HA ConfigMap, and any file, of generation gen is left.
func (s *stateful) haDataOf(gen int64) (configMaps, files bool) {
	s.t.Helper()
	list, err := s.fake.CoreV1().ConfigMaps(testNS).List(context.Background(), metav1.ListOptions{
		LabelSelector: kube.FlinkLabelApp + "=" + kube.HAClusterID(testApp, gen)})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(list.Items) > 0, s.anyFileUnder(haDir(gen))
}

// noteHADeletes puts deletes of HA ConfigMaps on the timeline.
func (s *stateful) noteHADeletes() {
	s.fake.PrependReactor("delete", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if name := a.(k8stesting.DeleteAction).GetName(); strings.HasPrefix(name, testApp+"-g") {
			s.note("ha delete " + name)
		}
		return false, nil, nil
	})
}

// flinkConf is the Flink configuration the JobManager Deployment's pods read.
func (s *stateful) flinkConf() map[string]string {
	s.t.Helper()
	cm, err := s.fake.CoreV1().ConfigMaps(testNS).Get(context.Background(), kube.ConfigMapName(testApp), metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	conf := map[string]string{}
	if err := yaml.Unmarshal([]byte(cm.Data[flinkconf.ConfigFileYAML]), &conf); err != nil {
		s.t.Fatal(err)
	}
	return conf
}

func (s *stateful) haAccessExists() (sa, role, binding bool) {
	ctx := context.Background()
	_, err := s.fake.CoreV1().ServiceAccounts(testNS).Get(ctx, kube.ServiceAccountName(testApp), metav1.GetOptions{})
	sa = err == nil
	_, err = s.fake.RbacV1().Roles(testNS).Get(ctx, kube.HARoleName(testApp), metav1.GetOptions{})
	role = err == nil
	_, err = s.fake.RbacV1().RoleBindings(testNS).Get(ctx, kube.HARoleName(testApp), metav1.GetOptions{})
	binding = err == nil
	return sa, role, binding
}

func TestHAClusterIDAndStorageArePerGeneration(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	conf := s.flinkConf()
	if conf["high-availability.type"] != "kubernetes" || conf["kubernetes.cluster-id"] != "fraud-g1" ||
		conf["high-availability.storageDir"] != haDir(1) || conf["kubernetes.namespace"] != testNS {
		t.Fatalf("generation 1's HA configuration: %v", conf)
	}
	if rec := s.record(); !rec.HighAvailability || rec.HAStorageDir != haDir(1) {
		t.Errorf("record: HA %v, storage %q", rec.HighAvailability, rec.HAStorageDir)
	}
	if sa, role, binding := s.haAccessExists(); !sa || !role || !binding {
		t.Errorf("HA access objects: ServiceAccount %v, Role %v, RoleBinding %v", sa, role, binding)
	}
	if pod := s.deployment(jmName()).Spec.Template.Spec; pod.ServiceAccountName != kube.ServiceAccountName(testApp) {
		t.Errorf("JobManager pods run as %q", pod.ServiceAccountName)
	}

	s.mustApply(haFor(2, StateRunning), OpSavepointRedeploy)
	conf = s.flinkConf()
	if conf["kubernetes.cluster-id"] != "fraud-g2" || conf["high-availability.storageDir"] != haDir(2) {
		t.Errorf("generation 2 must not share generation 1's HA data: %v", conf)
	}
	// The deploy-time restore path is still passed: Flink ignores it when HA data exists.
	if !strings.Contains(strings.Join(s.deployment(jmName()).Spec.Template.Spec.Containers[0].Args, " "), "--fromSavepoint") {
		t.Errorf("the upgraded job has no --fromSavepoint")
	}
}

// TestHADataIsDeletedOnlyAfterTheSupersedingSavepointIsRecorded: an upgrade deletes the
// previous generation's HA data only after the savepoint that replaces it is recorded and the
// new generation runs, never the running generation's.
func TestHADataIsDeletedOnlyAfterTheSupersedingSavepointIsRecorded(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	s.writeHAData(1)
	s.noteHADeletes()

	mark := s.mark()
	res := s.mustApply(haFor(2, StateRunning), OpSavepointRedeploy)
	s.writeHAData(2)
	lines := s.since(mark)
	recorded := index(lines, "snapshot create", "origin=upgrade")
	deployed := index(lines, "record state=running gen=2 journal=none")
	firstDelete := index(lines, "ha delete fraud-g1")
	firstFile := index(lines, "blob delete ha/"+testNS+"/fraud-g1/")
	if recorded < 0 || deployed < 0 || firstDelete < 0 || firstFile < 0 {
		t.Fatalf("timeline lacks the snapshot record, the closed journal or the HA deletes:\n%s", strings.Join(lines, "\n"))
	}
	if firstDelete < deployed || firstFile < deployed || deployed < recorded {
		t.Errorf("generation 1's HA data was deleted before the upgrade's snapshot %s was recorded and the journal closed:\n%s",
			res.LastSnapshotName, strings.Join(lines, "\n"))
	}
	if firstFile > firstDelete {
		t.Errorf("the ConfigMaps that index the HA files went before the files:\n%s", strings.Join(lines, "\n"))
	}
	if cms, files := s.haDataOf(1); cms || files {
		t.Errorf("generation 1's HA data left: ConfigMaps %v, files %v", cms, files)
	}
	if cms, files := s.haDataOf(2); !cms || !files {
		t.Errorf("the running generation's HA data was deleted: ConfigMaps %v, files %v", cms, files)
	}
	if index(lines, "ha delete fraud-g2") >= 0 {
		t.Errorf("the running generation's HA ConfigMaps were deleted")
	}
}

// TestHADataSurvivesACrashBeforeTheJournalCloses: whichever step the provider dies after,
// generation 1's HA data is still there, and recover deletes it once it has finished the
// upgrade.
func TestHADataSurvivesACrashBeforeTheJournalCloses(t *testing.T) {
	t.Parallel()
	for _, step := range []string{stepStarted, stepSavepoint, stepTaken, stepDeploying} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			s := newStateful(t)
			s.mustApply(haFor(1, StateRunning), OpDeploy)
			s.writeHAData(1)
			desired := haFor(2, StateRunning)
			c := s.crashAt(step)
			if _, err := s.p.Apply(c.ctx, desired, OpSavepointRedeploy, s.progressFn()); err == nil || !c.fired.Load() {
				t.Fatalf("Apply did not die at %s: %v", step, err)
			}
			c.over()
			s.restart()
			if cms, files := s.haDataOf(1); !cms || !files {
				t.Fatalf("HA data of the interrupted generation deleted before the journal closed: ConfigMaps %v, files %v", cms, files)
			}
			if _, err := s.apply(desired, OpRecover); err != nil {
				t.Fatalf("recover: %v", err)
			}
			if rec := s.record(); rec.Journal != nil || rec.Generation != 2 || rec.Version.Label != "v2" {
				t.Fatalf("after recover: generation %d, version %s, journal %+v", rec.Generation, rec.Version.Label, rec.Journal)
			}
			if cms, files := s.haDataOf(1); cms || files {
				t.Errorf("after recover generation 1's HA data is left: ConfigMaps %v, files %v", cms, files)
			}
		})
	}
}

// TestHADataLeftByACrashAfterTheJournalClosedIsSweptLater: a process that dies between
// closing the journal and deleting the HA data leaves only garbage, which the next apply
// deletes.
func TestHADataLeftByACrashAfterTheJournalClosedIsSweptLater(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	s.writeHAData(1)
	// The process dies right after the journal closed: every later write fails.
	var closed bool
	s.fake.PrependReactor("delete", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if closed && strings.HasPrefix(a.(k8stesting.DeleteAction).GetName(), testApp+"-g") {
			return true, nil, errProcessDied
		}
		return false, nil, nil
	})
	closed = true
	s.mustApply(haFor(2, StateRunning), OpSavepointRedeploy)
	if cms, _ := s.haDataOf(1); !cms {
		t.Fatal("the test's failure did not keep generation 1's ConfigMaps")
	}
	closed = false
	d := haFor(2, StateRunning)
	d.Labels = map[string]string{"team": "fraud"} // an apply that changes only records
	s.mustApply(d, OpNone)
	if cms, _ := s.haDataOf(1); cms {
		t.Errorf("the next apply left generation 1's HA ConfigMaps")
	}
}

func TestSuspendDropsItsHADataAfterItsSavepointAndResumeStartsANewGeneration(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	s.writeHAData(1)
	s.noteHADeletes()
	mark := s.mark()
	s.mustApply(haFor(1, StateSuspended), OpSuspend)
	lines := s.since(mark)
	if rec, del := index(lines, "snapshot create", "origin=suspend"), index(lines, "ha delete fraud-g1"); rec < 0 || del < rec {
		t.Errorf("suspend: snapshot recorded at %d, HA data deleted at %d:\n%s", rec, del, strings.Join(lines, "\n"))
	}
	if cms, files := s.haDataOf(1); cms || files {
		t.Errorf("a suspended application's HA data is left: ConfigMaps %v, files %v", cms, files)
	}
	s.mustApply(haFor(1, StateRunning), OpResume)
	if conf := s.flinkConf(); conf["kubernetes.cluster-id"] != "fraud-g2" {
		t.Errorf("resume runs cluster id %q, want a new generation's", conf["kubernetes.cluster-id"])
	}
}

func TestCancelKeepsHADataUntilTheNextDeploy(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	s.writeHAData(1)
	s.mustApply(haFor(1, StateCancelled), OpCancel)
	if cms, _ := s.haDataOf(1); !cms {
		t.Errorf("cancel (no snapshot supersedes the job) deleted its HA data")
	}
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	if cms, files := s.haDataOf(1); cms || files {
		t.Errorf("the next deploy left the cancelled generation's HA data: ConfigMaps %v, files %v", cms, files)
	}
}

// TestDeployDeletesLeftoverHADataOfItsNewClusterID: an application of the same name whose
// record was deleted outside the provider counts its generations from 1 again; the data its
// predecessor left under fraud-g1 goes before generation 1's JobManager starts.
func TestDeployDeletesLeftoverHADataOfItsNewClusterID(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.writeHAData(1)
	s.noteHADeletes()
	mark := s.mark()
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	lines := s.since(mark)
	del, apply := index(lines, "ha delete fraud-g1"), index(lines, "deployment apply "+jmName())
	if del < 0 || apply < del {
		t.Errorf("leftover HA data deleted at %d, JobManager applied at %d:\n%s", del, apply, strings.Join(lines, "\n"))
	}
	if _, files := s.haDataOf(1); files {
		t.Errorf("leftover HA files under %s", haDir(1))
	}
}

func TestTurningHighAvailabilityOffRedeploysWithoutHAAndRemovesItsAccess(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	s.writeHAData(1)
	off := haFor(1, StateRunning)
	off.HighAvailability = false
	plan, err := s.p.PlanChange(context.Background(), off)
	if err != nil || plan.Operation != OpSavepointRedeploy {
		t.Fatalf("PlanChange turning HA off = %+v, %v; want savepoint_redeploy", plan, err)
	}
	wantContains(t, "plan summary", plan.Summary, "with a savepoint", "turning high availability off")
	s.mustApply(off, OpSavepointRedeploy)
	for k := range s.flinkConf() {
		if strings.HasPrefix(k, "high-availability") || strings.HasPrefix(k, "kubernetes.") {
			t.Errorf("HA key %s rendered with HA off", k)
		}
	}
	if sa, role, binding := s.haAccessExists(); sa || role || binding {
		t.Errorf("HA access objects left: ServiceAccount %v, Role %v, RoleBinding %v", sa, role, binding)
	}
	if cms, files := s.haDataOf(1); cms || files {
		t.Errorf("HA data of the HA generation left: ConfigMaps %v, files %v", cms, files)
	}
	if p, _ := s.p.PlanChange(context.Background(), off); p.Operation != OpNone {
		t.Errorf("after the redeploy the plan is %s, want none", p.Operation)
	}
	on := haFor(1, StateRunning)
	if p, _ := s.p.PlanChange(context.Background(), on); p.Operation != OpSavepointRedeploy || !strings.Contains(p.Summary, "turning high availability on") {
		t.Errorf("turning HA on again plans %s (%s)", p.Operation, p.Summary)
	}
}

func TestHighAvailabilityIsAClassifiedRuntimeChange(t *testing.T) {
	v := versionN(1)
	for _, tc := range []struct {
		current, desired bool
		mode             string
		state            string
		want             Operation
	}{
		{false, true, UpgradeSavepoint, StateRunning, OpSavepointRedeploy},
		{true, false, UpgradeSavepoint, StateRunning, OpSavepointRedeploy},
		{true, false, UpgradeLastState, StateRunning, OpLastStateRedeploy},
		{true, false, UpgradeStateless, StateRunning, OpStatelessRedeploy},
		{true, true, UpgradeSavepoint, StateRunning, OpNone},
		{false, true, UpgradeSavepoint, StateSuspended, OpNone}, // nothing runs: the resume uses it
	} {
		current := &Current{Version: v, State: tc.state, HighAvailability: tc.current}
		d := Desired{Namespace: testNS, Name: testApp, Version: v, State: tc.state, UpgradeMode: tc.mode, HighAvailability: tc.desired}
		if got := Classify(current, d).Operation; got != tc.want {
			t.Errorf("HA %v -> %v (%s, %s): %s, want %s", tc.current, tc.desired, tc.mode, tc.state, got, tc.want)
		}
	}
}

// TestHAWithoutDurableStorageIsRefusedAtPlanTime: HA data must go to durable storage Flink
// can write; with none known, the plan fails and says how to fix it.
func TestHAWithoutDurableStorageIsRefusedAtPlanTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // no snapshot_storage_url
	d := desiredFor(testVersion("v1"), StateRunning)
	d.HighAvailability = true
	_, err := h.p.PlanChange(context.Background(), d)
	if err == nil {
		t.Fatal("PlanChange accepted HA without durable storage")
	}
	wantContains(t, "error", err.Error(), "high availability is on", "snapshot storage URL", "savepoint directory",
		"high availability = false")
	wantSetting(t, err, SettingHighAvailability)

	// The version's own checkpoint storage will do.
	d.Version.FlinkConfiguration = map[string]string{"state.checkpoints.dir": "s3://bucket/checkpoints/"}
	if _, err := h.p.PlanChange(context.Background(), d); err != nil {
		t.Fatalf("PlanChange with state.checkpoints.dir: %v", err)
	}
	res := h.mustApply(d, OpDeploy)
	if conf := h.deployment(jmName()); conf == nil || res.JobID == "" {
		t.Fatal("not deployed")
	}
	if rec := h.record(); rec.HAStorageDir != "s3://bucket/checkpoints/ha/"+testNS+"/fraud-g1" {
		t.Errorf("HA storage %q", rec.HAStorageDir)
	}
	// Without HA nothing is needed.
	d.HighAvailability = false
	d.Version.FlinkConfiguration = nil
	if _, err := h.p.PlanChange(context.Background(), desiredFor(testVersion("v1"), StateRunning)); err != nil {
		t.Errorf("PlanChange without HA: %v", err)
	}
}

func TestStandbyJobManagersNeedHighAvailability(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	d := haFor(1, StateRunning)
	d.Version.JobManager.Replicas = 2
	if _, err := s.p.PlanChange(context.Background(), d); err != nil {
		t.Fatalf("two JobManagers with HA: %v", err)
	}
	d.HighAvailability = false
	_, err := s.p.PlanChange(context.Background(), d)
	if err == nil {
		t.Fatal("two JobManagers without HA were planned")
	}
	wantContains(t, "error", err.Error(), "job_manager.replicas = 2 needs high availability")
}

func TestDeleteDropsTheHADataOfEveryGeneration(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(haFor(1, StateRunning), OpDeploy)
	s.writeHAData(1)
	s.mustApply(haFor(2, StateRunning), OpSavepointRedeploy)
	s.writeHAData(1) // as if an earlier cleanup had failed
	s.writeHAData(2)
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fraud-eu-g1-cluster-config-map",
		Labels: map[string]string{kube.FlinkLabelApp: "fraud-eu-g1", kube.FlinkLabelType: kube.FlinkLabelTypeNative}}}
	if _, err := s.fake.CoreV1().ConfigMaps(testNS).Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.p.Delete(ctx, testNS, testApp, DestroySavepoint, SavepointOptions{}, s.progressFn()); err != nil {
		t.Fatal(err)
	}
	for _, gen := range []int64{1, 2} {
		if cms, files := s.haDataOf(gen); cms || files {
			t.Errorf("generation %d's HA data left after destroy: ConfigMaps %v, files %v", gen, cms, files)
		}
	}
	if _, err := s.fake.CoreV1().ConfigMaps(testNS).Get(context.Background(), other.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("another application's HA data was deleted: %v", err)
	}
}

func TestRunsWithoutHighAvailability(t *testing.T) {
	d := Desired{Name: "orders", State: StateRunning}
	if !RunsWithoutHighAvailability(d) {
		t.Error("a running application without HA does not count as one")
	}
	d.HighAvailability = true
	if RunsWithoutHighAvailability(d) {
		t.Error("an application with HA counts as one without")
	}
	d.HighAvailability, d.State = false, StateSuspended
	if RunsWithoutHighAvailability(d) {
		t.Error("a suspended application counts as running without HA")
	}
}

// TestRollbackRestoresThePreviousHighAvailability: an upgrade that also turns HA on and does
// not become healthy rolls back to the previous version as it ran, without HA.
func TestRollbackRestoresThePreviousHighAvailability(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.mustApply(statefulFor(versionN(1), StateRunning), OpDeploy)
	s.kubelet.setFailVersion("v2", rootCauseMsg)
	_, err := s.apply(haFor(2, StateRunning), OpSavepointRedeploy)
	if err == nil {
		t.Fatal("the failing upgrade succeeded")
	}
	wantContains(t, "error", err.Error(), "rolled back to version v1")
	rec := s.record()
	if rec.Version.Label != "v1" || rec.HighAvailability || rec.Generation != 3 {
		t.Fatalf("after the rollback: version %s, HA %v, generation %d", rec.Version.Label, rec.HighAvailability, rec.Generation)
	}
	if _, set := s.flinkConf()["high-availability.type"]; set {
		t.Errorf("the rolled-back cluster runs with HA")
	}
	if sa, _, _ := s.haAccessExists(); sa {
		t.Errorf("the HA ServiceAccount outlives the rollback")
	}
}
