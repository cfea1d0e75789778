package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// The high-availability scenarios: with the fixture job running and at least two checkpoints
// completed since its deploy-time savepoint, a JobManager or TaskManager fails the way a node,
// the OOM killer or an eviction makes it fail, and the job recovers by itself, from its latest
// completed checkpoint, with no apply; the next plan shows no change.

// haVersion is the fixture's v1 with the settings the failure scenarios need.
func haVersion(t *testing.T, ns string) string {
	// The REST API's metric fetcher waits up to web.timeout (Flink: 10 minutes) for a
	// TaskManager that died; until then the counter reads as before it died.
	return fixtureVersion(t, ns, "v1", acctest.FixtureJobClass, 1, `    "web.timeout" = "15000"
`)
}

// timed logs how long a step of a scenario took, for the report on e2e time.
func timed(t *testing.T, what string, start time.Time) {
	t.Logf("timing: %-60s %5.1fs", what, time.Since(start).Seconds())
}

func restBase(ns string) string { return "http://" + kube.RestHost("counter", ns) + ":8081" }

func jobOf(t *testing.T, ns string) string {
	t.Helper()
	record, _, err := records.New(&kube.Client{Kube: acctest.Kube(t)}).GetAppRecord(context.Background(), ns, "counter")
	if err != nil {
		t.Fatalf("application record: %v", err)
	}
	return record.JobID
}

// recoveryDeadline bounds the wait for a job to run again after a failure. It tells a hang from
// a recovery, it is not a goal: how long recovery takes is logged ("timing:") and depends on the
// machine and on the kubelet, whose restart back-off doubles with each restart of the same
// container (10 s, 20 s, 40 s, ...), so the third JobManager kill in a row waits the longest.
const recoveryDeadline = 5 * time.Minute

// recoversLatestCheckpoint waits until the job completed two checkpoints since a reading of its
// counter, runs fail, and checks that the job runs again having restored a checkpoint at least
// as new as those (not a savepoint) and at least the counted events.
func recoversLatestCheckpoint(t *testing.T, ns, what string, fail func()) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), recoveryDeadline)
	defer cancel()
	jobID := jobOf(t, ns)
	cp, err := acctest.WaitCheckpointed(ctx, nil, restBase(ns), jobID, 2)
	if err != nil {
		return err
	}
	start := time.Now()
	fail()
	restored, err := acctest.WaitRestored(ctx, nil, restBase(ns), jobID, start)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	took := time.Since(start)
	timed(t, what+": job RUNNING again", start)
	if restored.IsSavepoint || restored.ID < cp.CheckpointID {
		return fmt.Errorf("%s: the job restored %+v; want checkpoint %d or newer (it counted %d before it), not a savepoint",
			what, restored, cp.CheckpointID, cp.Count.Counted)
	}
	var c acctest.FixtureCount
	err = wait.Until(ctx, func(ctx context.Context) (bool, error) {
		c, err = acctest.ReadFixtureCount(ctx, nil, restBase(ns), jobID)
		return err == nil && c.Restored >= cp.Count.Counted, nil
	}, flink.IsRetryable)
	if err != nil {
		return fmt.Errorf("%s: restored checkpoint %d, but the counter restored %d events (want at least %d): %w",
			what, restored.ID, c.Restored, cp.Count.Counted, err)
	}
	t.Logf("%s: checkpoint %d held %d+ events; restored checkpoint %d with %d events, after %s",
		what, cp.CheckpointID, cp.Count.Counted, restored.ID, c.Restored, took.Round(100*time.Millisecond))
	return nil
}

// runningPod is the one running pod of component.
func runningPod(t *testing.T, ns, component string) corev1.Pod {
	t.Helper()
	pod, err := acctest.Current().RunningPod(context.Background(), ns, "counter", component)
	if err != nil {
		t.Fatal(err)
	}
	return *pod
}

// haConfigMaps lists the HA ConfigMaps Flink wrote for cluster id.
func haConfigMaps(t *testing.T, ns, clusterID string) []corev1.ConfigMap {
	t.Helper()
	list, err := acctest.Kube(t).CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: kube.FlinkLabelApp + "=" + clusterID + "," + kube.FlinkLabelType + "=" + kube.FlinkLabelTypeNative})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestE2E_HAJobRecoversLatestCheckpointAfterJobManagerAndTaskManagerFailures runs the
// fixture with high availability (the default) after a suspend and resume, so its
// JobManagers start with --fromSavepoint: (d, a) its JobManager is killed three times in a
// row while its TaskManager stays up (the case in which, without HA, the new JobManager's jar
// upload was refused by the surviving TaskManager, FLINK-32212); (b) its JobManager pod is deleted; (c) its TaskManager is killed. Each time the
// job restores its latest completed checkpoint, never the deploy-time savepoint, and the next
// plan is empty.
func TestE2E_HAJobRecoversLatestCheckpointAfterJobManagerAndTaskManagerFailures(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	cfg := func(state string) string {
		return acctest.ProviderConfig(t) + haVersion(t, ns) + application("counter", ns, "v1", state, "")
	}
	began := time.Now()
	defer timed(t, "whole test", began)
	var step time.Time
	mark := func() { step = time.Now() }

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				PreConfig: mark,
				Config:    cfg("running"),
				Check: func(*terraform.State) error {
					timed(t, "deploy", step)
					if len(haConfigMaps(t, ns, "counter-g1")) == 0 {
						return fmt.Errorf("Flink wrote no HA ConfigMaps for cluster id counter-g1")
					}
					return nil
				},
			},
			{
				PreConfig: mark,
				Config:    cfg("suspended"),
				Check: func(*terraform.State) error {
					timed(t, "suspend", step)
					// The suspend's savepoint is recorded: generation 1's HA data is gone.
					if left := haConfigMaps(t, ns, "counter-g1"); len(left) > 0 {
						return fmt.Errorf("HA ConfigMaps of the suspended generation left: %s", left[0].Name)
					}
					dir := "ha/" + ns + "/counter-g1"
					if left, err := acctest.StorageHasFiles(t, dir); left || err != nil {
						return fmt.Errorf("HA files of the suspended generation left in %s (%v)", dir, err)
					}
					return nil
				},
			},
			{
				PreConfig: mark,
				Config:    cfg("running"),
				Check: func(*terraform.State) error {
					timed(t, "resume", step)
					if err := persistedJob(t, ns, "counter-g2"); err != nil {
						return err
					}
					tm := runningPod(t, ns, kube.ComponentTaskManager)
					for i := 1; i <= 3; i++ {
						err := recoversLatestCheckpoint(t, ns, fmt.Sprintf("JobManager killed (%d of 3)", i), func() {
							acctest.KillJobManager(t, ns, "counter")
						})
						if err != nil {
							return err
						}
					}
					if now := runningPod(t, ns, kube.ComponentTaskManager); now.UID != tm.UID {
						return fmt.Errorf("the TaskManager was replaced (%s, now %s); the scenario needs it to survive the JobManager kills", tm.Name, now.Name)
					}
					return nil
				},
			},
			{
				// (a, d) Terraform sees no change after the JobManager kills.
				Config:           cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					return recoversLatestCheckpoint(t, ns, "JobManager pod deleted", func() {
						acctest.DeleteJobManagerPod(t, ns, "counter")
					})
				},
			},
			{
				// (b) nor after the pod deletion.
				Config:           cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					return recoversLatestCheckpoint(t, ns, "TaskManager killed", func() {
						acctest.KillTaskManager(t, ns, "counter")
					})
				},
			},
			{
				// (c) nor after the TaskManager kill.
				Config:           cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// persistedJob checks that Flink keeps the job in the HA ConfigMaps: the job graph (1.x) or
// execution plan (2.x) in the cluster ConfigMap.
func persistedJob(t *testing.T, ns, clusterID string) error {
	key := "jobGraph-" + jobOf(t, ns)
	if !strings.HasPrefix(flinkMinor(), "1.") {
		key = "executionPlan-" + jobOf(t, ns)
	}
	for _, cm := range haConfigMaps(t, ns, clusterID) {
		if cm.Name == clusterID+"-cluster-config-map" && cm.Data[key] != "" {
			return nil
		}
	}
	return fmt.Errorf("no HA ConfigMap %s-cluster-config-map holding %s", clusterID, key)
}

// TestE2E_WithoutHAJobManagerRestartRewindsToDeployTimeSnapshot documents the opt-out:
// with high_availability = false the plan warns, and a JobManager killed (with its
// TaskManager) after the job has checkpointed comes back with the deploy-time savepoint's
// state, not its latest checkpoint: the state rewinds, and Terraform sees no change.
func TestE2E_WithoutHAJobManagerRestartRewindsToDeployTimeSnapshot(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	cfg := func(state string) string {
		return acctest.ProviderConfig(t) + haVersion(t, ns) + application("counter", ns, "v1", state, "high_availability = false")
	}
	began := time.Now()
	defer timed(t, "whole test", began)
	var savepoint string
	var atSavepoint acctest.FixtureCount

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					w := strings.Join(acctest.PlanWarnings(t, providertest.Factories["flink"], cfg("running")), "\n")
					if !strings.Contains(w, "counter: no high availability") || !strings.Contains(w, "the job starts again from the snapshot it was deployed from") {
						t.Errorf("the plan with high_availability = false does not warn about JobManager restarts:\n%s", w)
					}
				},
				Config: cfg("running"),
				Check: func(*terraform.State) error {
					// (The namespace holds the test's own provider ServiceAccount; the application's
					// HA objects are the ones that must not exist.)
					ctx, k := context.Background(), acctest.Kube(t)
					if _, err := k.CoreV1().ServiceAccounts(ns).Get(ctx, kube.ServiceAccountName("counter"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						return fmt.Errorf("ServiceAccount %s rendered without HA: %v", kube.ServiceAccountName("counter"), err)
					}
					if _, err := k.RbacV1().Roles(ns).Get(ctx, kube.HARoleName("counter"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						return fmt.Errorf("Role %s rendered without HA: %v", kube.HARoleName("counter"), err)
					}
					return nil
				},
			},
			{Config: cfg("suspended")},
			{
				Config: cfg("running"),
				Check: func(s *terraform.State) error {
					savepoint = s.RootModule().Resources[app].Primary.Attributes["last_snapshot_path"]
					atSavepoint = counter(t, ns, "counter", 0)
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					jobID := jobOf(t, ns)
					cp, err := acctest.WaitCheckpointed(ctx, nil, restBase(ns), jobID, 2)
					if err != nil {
						return err
					}
					// A node failure that takes the JobManager and the TaskManager. (With the
					// TaskManager left alive, Flink 1.20, 2.2 and 2.3 do not get the job running again:
					// the new JobManager uploads the jar anew under another blob key and the
					// surviving TaskManager refuses it, "The library registration references a
					// different set of library BLOBs than previous registrations for this job",
					// FLINK-32212, and the job restarts forever. With HA the persisted job graph
					// keeps its blob keys: the HA scenario kills the JobManager alone.)
					fc := flink.New("counter", restBase(ns), nil)
					before, err := fc.Checkpoints(ctx, jobID)
					if err != nil || before.Latest.Completed == nil {
						return fmt.Errorf("checkpoints before the kill: %+v, %v", before.Latest, err)
					}
					start := time.Now()
					acctest.KillJobManager(t, ns, "counter")
					acctest.KillTaskManager(t, ns, "counter")
					// This is what high_availability = false means: the replacement JobManager
					// starts the job again from the deploy-time savepoint (--fromSavepoint); the
					// events counted since, and the checkpoints holding them, are lost. (The
					// rewound job then numbers its checkpoints from the savepoint's again and
					// collides with the retained ones of the killed run, "chk-<n>/_metadata already
					// exists", which fails it over once more, to its own latest checkpoint: read
					// the first restore.)
					restored, err := acctest.WaitFirstRestore(ctx, nil, restBase(ns), jobID, start)
					if err != nil {
						return err
					}
					timed(t, "JobManager and TaskManager killed without HA: job restored", start)
					if !restored.IsSavepoint || !samePath(restored.ExternalPath, savepoint) {
						return fmt.Errorf("without HA the new JobManager restored %+v, want the deploy-time savepoint %s", restored, savepoint)
					}
					if atSavepoint.Restored >= cp.Count.Counted {
						return fmt.Errorf("the savepoint holds %d events, checkpoint %d at least %d: nothing to rewind",
							atSavepoint.Restored, cp.CheckpointID, cp.Count.Counted)
					}
					t.Logf("without HA: checkpoint %d held %d+ events; the restarted job rewound to the savepoint's %d", cp.CheckpointID,
						cp.Count.Counted, atSavepoint.Restored)
					// It runs again once its checkpoints are numbered past the killed run's (the
					// destroy below stops it with a savepoint, which needs it running).
					return runsPastCheckpoint(ctx, fc, jobID, before.Latest.Completed.ID+1) // one may have been in flight
				},
			},
			{
				// Terraform does not notice the rewind.
				Config:           cfg("running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// runsPastCheckpoint waits until a job whose JobManager restarted without HA runs healthy
// with a checkpoint newer than last, the killed run's newest. Until then it numbers its
// checkpoints from its deploy-time savepoint's again and collides with the killed run's
// retained ones ("chk-<n>/_metadata already exists"), failing over each time; the destroy
// that ends a test stops it with a savepoint, which needs it running.
func runsPastCheckpoint(ctx context.Context, fc *flink.Client, jobID string, last int64) error {
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		job, err := fc.Job(ctx, jobID)
		if err != nil || !flink.JobHealthy(job) {
			return false, nil
		}
		stats, err := fc.Checkpoints(ctx, jobID)
		return err == nil && stats.Latest.Completed != nil && stats.Latest.Completed.ID > last, nil
	}, flink.IsRetryable)
	if err != nil {
		return fmt.Errorf("the rewound job did not run and checkpoint past the killed run's checkpoint %d: %w", last, err)
	}
	return nil
}

func samePath(a, b string) bool {
	norm := func(s string) string { return "/" + strings.Trim(strings.TrimPrefix(s, "file:"), "/") }
	return norm(a) == norm(b)
}
