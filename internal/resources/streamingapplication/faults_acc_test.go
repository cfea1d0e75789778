package streamingapplication_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// These tests drive the stateful lifecycle (docs/design.md §5) through its failure paths with the
// real Terraform CLI: every Flink JobManager is an emulated one started by the harness from
// the pods the provider creates, so faults are injected per cluster, after the provider
// created it.

// ver is one flink_application_version of "orders" in the tests below.
type ver struct {
	label, image string
	conf         map[string]string // flink_configuration
}

// appConfig is config() with versions that may carry a Flink configuration.
func appConfig(t *testing.T, ns string, versions []ver, current, state string, appExtra ...string) string {
	t.Helper()
	hcl := acctest.ProviderConfig(t)
	for _, v := range versions {
		hcl += versionHCL(ns, "orders", v)
	}
	return hcl + appHCL(ns, versionRef(current), state, appExtra...)
}

// appHCL is the application "test", orders in ns, running the version whose id is the HCL
// expression versionID, in state (none if empty), with extra attributes.
func appHCL(ns, versionID, state string, extra ...string) string {
	if state != "" {
		extra = append([]string{fmt.Sprintf("state = %q", state)}, extra...)
	}
	return fmt.Sprintf(`
resource "flink_streaming_application" "test" {
  name       = "orders"
  namespace  = %q
  version_id = %s
%s
}
`, ns, versionID, strings.Join(extra, "\n"))
}

// versionRef is the id of the flink_application_version resource label, as an expression.
func versionRef(label string) string { return "flink_application_version." + label + ".id" }

func versionHCL(ns, application string, v ver) string {
	conf := ""
	if len(v.conf) > 0 {
		keys := make([]string, 0, len(v.conf))
		for k := range v.conf {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		conf = "  flink_configuration = {\n"
		for _, k := range keys {
			conf += fmt.Sprintf("    %q = %q\n", k, v.conf[k])
		}
		conf += "  }\n"
	}
	return acctest.OrdersVersionHCL(v.label, ns, application, v.label, v.image, conf)
}

// plainVersions are n versions v1..vn that differ only in their image.
func plainVersions(n int) []ver {
	out := make([]ver, n)
	for i := range out {
		out[i] = ver{label: fmt.Sprintf("v%d", i+1), image: fmt.Sprintf("flink:1.20.%d", i+1)}
	}
	return out
}

// words matches a phrase across the line breaks Terraform puts into error messages.
func words(phrase string) *regexp.Regexp {
	parts := strings.Fields(phrase)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

func kubeClient(t *testing.T) *kube.Client { return &kube.Client{Kube: acctest.Kube(t)} }

// runtime is the harness's emulator runtime, for hooks on JobManager start.
func runtime(t *testing.T) *acctest.EmulatorRuntime {
	t.Helper()
	rt, ok := acctest.Current().Runtime().(*acctest.EmulatorRuntime)
	if !ok {
		t.Fatal("the test cluster does not run the emulator runtime")
	}
	return rt
}

// cluster is the running emulated JobManager of orders, failing the check when none runs.
func cluster(emulator *flinktest.Emulator, ns string) (*flinktest.Cluster, error) {
	c := emulator.Cluster(kube.RestHost("orders", ns))
	if c == nil {
		return nil, fmt.Errorf("no JobManager is running for %s/orders", ns)
	}
	return c, nil
}

func attrs(s *terraform.State) map[string]string {
	return s.RootModule().Resources[app].Primary.Attributes
}

// runsRestoredFrom checks that the job the state records runs and restored from *want.
func runsRestoredFrom(emulator *flinktest.Emulator, ns string, want *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		c, err := cluster(emulator, ns)
		if err != nil {
			return err
		}
		if c.JobID() != attrs(s)["job_id"] {
			return fmt.Errorf("JobManager runs job %s, state says %s", c.JobID(), attrs(s)["job_id"])
		}
		if st := c.JobState(); st != "RUNNING" {
			return fmt.Errorf("job %s is %s, want RUNNING", c.JobID(), st)
		}
		if got := c.RestoredFrom(); got != *want {
			return fmt.Errorf("job %s restored from %q, want %q", c.JobID(), got, *want)
		}
		return nil
	}
}

// appRecord reads the application record of orders.
func appRecord(t *testing.T, ns string) (records.AppRecord, error) {
	r, _, err := records.New(kubeClient(t)).GetAppRecord(context.Background(), ns, "orders")
	return r, err
}

// snapshotDirs lists the savepoint directories under <SnapshotDir>/<ns>/orders.
func snapshotDirs(t *testing.T, ns string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(acctest.SnapshotDir(t), ns, "orders"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, err
}

// localDir turns a file: Flink path into a local directory.
func localDir(path string) string {
	return "/" + strings.TrimLeft(strings.TrimPrefix(path, "file:"), "/")
}

// checkGone is a CheckDestroy: the application record, its cluster and its pods are gone.
func checkGone(t *testing.T, ns string, apps ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		k8s := acctest.Kube(t)
		ctx := context.Background()
		for _, a := range apps {
			if _, err := k8s.CoreV1().ConfigMaps(ns).Get(ctx, kube.AppRecordName(a), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("application record of %s still exists after destroy (err=%v)", a, err)
			}
			if _, err := k8s.AppsV1().Deployments(ns).Get(ctx, kube.JobManagerDeploymentName(a), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("JobManager deployment of %s still exists after destroy (err=%v)", a, err)
			}
			pods, err := k8s.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.PodSelector(a)})
			if err != nil || len(pods.Items) > 0 {
				return fmt.Errorf("pods of %s remain after destroy: %d (err=%v)", a, len(pods.Items), err)
			}
			if _, err := k8s.CoordinationV1().Leases(ns).Get(ctx, kube.LockName(a), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the lock of %s is still held after destroy (err=%v)", a, err)
			}
		}
		return nil
	}
}

func expectOperation(op string) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
		plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact(op)),
	}}
}

func deployed(ns, label string) []statecheck.StateCheck {
	return []statecheck.StateCheck{
		statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed_version_id"), knownvalue.StringExact(ns+"/orders/"+label)),
		statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
	}
}

// ---- 1. last_state ----

var chkPath = regexp.MustCompile(`/chk-\d+$`)

// TestAccStreamingApplication_lastState upgrades with upgrade_mode = "last_state": the old
// job is cancelled and the new one restores from its newest completed checkpoint, recorded
// as the application's last snapshot.
func TestAccStreamingApplication_lastState(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	checkpoints := "file://" + filepath.Join(acctest.SnapshotDir(t), "checkpoints", ns)
	conf := map[string]string{
		"execution.checkpointing.interval": "100ms",
		"state.checkpoints.dir":            checkpoints,
	}
	versions := []ver{{"v1", "flink:1.20.1", conf}, {"v2", "flink:1.20.2", conf}}
	lastState := `upgrade_mode = "last_state"`
	var oldJob, checkpoint string
	var old *flinktest.Cluster

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running", lastState),
				Check: func(s *terraform.State) (err error) {
					oldJob = attrs(s)["job_id"]
					old, err = cluster(emulator, ns)
					// Let the job complete a few checkpoints.
					time.Sleep(500 * time.Millisecond)
					return err
				},
			},
			{
				Config:           appConfig(t, ns, versions, "v2", "running", lastState),
				ConfigPlanChecks: expectOperation("last_state_redeploy"),
				ConfigStateChecks: append(deployed(ns, "v2"),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("last_snapshot_path"), knownvalue.StringRegexp(chkPath))),
				Check: resource.ComposeTestCheckFunc(
					func(s *terraform.State) error {
						checkpoint = attrs(s)["last_snapshot_path"]
						if !strings.HasPrefix(checkpoint, checkpoints+"/"+oldJob+"/chk-") &&
							!strings.HasPrefix(checkpoint, strings.Replace(checkpoints, "file://", "file:", 1)+"/"+oldJob+"/chk-") {
							return fmt.Errorf("last snapshot %q is not a checkpoint of the old job %s under %s", checkpoint, oldJob, checkpoints)
						}
						name := strings.TrimPrefix(attrs(s)["last_snapshot_id"], ns+"/")
						snap, err := records.New(kubeClient(t)).GetSnapshotRecord(context.Background(), ns, name)
						if err != nil {
							return err
						}
						if snap.Path != checkpoint || snap.Format != records.FormatCheckpoint || snap.Origin != records.OriginUpgrade || snap.JobID != oldJob {
							return fmt.Errorf("snapshot record %s = %+v; want the checkpoint %s of job %s, format checkpoint, origin upgrade",
								name, snap, checkpoint, oldJob)
						}
						// It is the old job's newest completed checkpoint, and that job was cancelled.
						client := flink.New(ns+"/orders", "http://"+kube.RestHost("orders", ns)+":8081", &http.Client{Transport: old.Transport()})
						stats, err := client.Checkpoints(context.Background(), oldJob)
						if err != nil {
							return err
						}
						if stats.Latest.Completed == nil || stats.Latest.Completed.ExternalPath != checkpoint {
							return fmt.Errorf("the old job's latest completed checkpoint is %+v; the upgrade restored %s", stats.Latest.Completed, checkpoint)
						}
						if st := old.JobState(); st != "CANCELED" {
							return fmt.Errorf("the old job is %s; last_state cancels it", st)
						}
						return metadataExists(checkpoint)
					},
					runsRestoredFrom(emulator, ns, &checkpoint),
				),
			},
		},
	})
}

// TestAccStreamingApplication_lastStateNeedsCheckpointStorage: without checkpoint storage
// there is nothing last_state could restore, and the plan says so before anything stops.
func TestAccStreamingApplication_lastStateNeedsCheckpointStorage(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(2)
	lastState := `upgrade_mode = "last_state"`
	var job string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running", lastState),
				Check:  func(s *terraform.State) error { job = attrs(s)["job_id"]; return nil },
			},
			{
				Config:      appConfig(t, ns, versions, "v2", "running", lastState),
				PlanOnly:    true,
				ExpectError: words(`upgrade_mode = "last_state" restores the latest checkpoint, but the running version has no checkpoint storage`),
			},
			{
				// Nothing happened: the same job still runs.
				Config: appConfig(t, ns, versions, "v1", "running", lastState),
				Check: func(*terraform.State) error {
					c, err := cluster(emulator, ns)
					if err != nil {
						return err
					}
					if c.JobID() != job || c.JobState() != "RUNNING" {
						return fmt.Errorf("job %s is %s; want the original job %s RUNNING", c.JobID(), c.JobState(), job)
					}
					return nil
				},
			},
		},
	})
}

// TestAccStreamingApplication_lastStateRetainsCheckpoints: Flink deletes a job's checkpoints
// when the job is cancelled unless execution.checkpointing.externalized-checkpoint-retention
// is RETAIN_ON_CANCELLATION (the default is NO_EXTERNALIZED_CHECKPOINTS). last_state
// cancels the job and restores its latest checkpoint, so a job of a last_state application
// must run with retained checkpoints (the Flink Kubernetes Operator sets this for the same
// reason), or the plan must refuse.
func TestAccStreamingApplication_lastStateRetainsCheckpoints(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	conf := map[string]string{
		"execution.checkpointing.interval": "100ms",
		"state.checkpoints.dir":            "file://" + filepath.Join(acctest.SnapshotDir(t), "checkpoints", ns),
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{{
			Config: appConfig(t, ns, []ver{{"v1", "flink:1.20.1", conf}}, "v1", "running", `upgrade_mode = "last_state"`),
			Check: func(*terraform.State) error {
				c, err := cluster(emulator, ns)
				if err != nil {
					return err
				}
				const key = "execution.checkpointing.externalized-checkpoint-retention"
				if got := c.Spec().Config[key]; got != "RETAIN_ON_CANCELLATION" {
					return fmt.Errorf("the job of a last_state application runs with %s = %q: Flink then deletes its checkpoints when "+
						"the upgrade cancels it, and the new version restores from a checkpoint that no longer exists. The provider "+
						"must set RETAIN_ON_CANCELLATION (or refuse last_state without it at plan time)", key, got)
				}
				return nil
			},
		}},
	})
}

// TestAccStreamingApplication_lastStateCheckpointUnreadable: last_state cancels the job
// before it can verify the checkpoint. When the checkpoint then turns out unreadable (as with
// real Flink, which deletes non-retained checkpoints on cancel), the job is already gone: the
// error must say so, and the journal must stay so that the next apply recovers from that
// checkpoint instead of "deploying" the cancelled application from older state.
func TestAccStreamingApplication_lastStateCheckpointUnreadable(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	// A file where the checkpoint directory should be: no checkpoint can be read there.
	blocked := filepath.Join(acctest.SnapshotDir(t), "blocked-"+ns)
	if err := os.WriteFile(blocked, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := map[string]string{"execution.checkpointing.interval": "100ms", "state.checkpoints.dir": "file://" + blocked}
	versions := []ver{{"v1", "flink:1.20.1", conf}, {"v2", "flink:1.20.2", conf}}
	lastState := `upgrade_mode = "last_state"`
	var oldJob string
	var checkpoint string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running", lastState),
				Check: func(s *terraform.State) error {
					oldJob = attrs(s)["job_id"]
					time.Sleep(300 * time.Millisecond)
					return nil
				},
			},
			{
				Config:      appConfig(t, ns, versions, "v2", "running", lastState),
				ExpectError: regexp.MustCompile(`(?s)chk-\d+.*not\s+readable.*(cancelled|canceled)`),
			},
			{
				PreConfig: func() {
					r, err := appRecord(t, ns)
					if err != nil {
						t.Fatal(err)
					}
					if r.Journal == nil {
						t.Fatalf("job %s was cancelled by the last_state upgrade, but the journal was cleared: the next plan is a plain "+
							"deploy from the newest recorded snapshot (here: none, so empty state), not a recovery from its checkpoint", oldJob)
					}
					if err := os.Remove(blocked); err != nil {
						t.Fatal(err)
					}
				},
				Config: appConfig(t, ns, versions, "v2", "running", lastState),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("recover")),
				}},
				ConfigStateChecks: deployed(ns, "v2"),
				Check: func(s *terraform.State) error {
					checkpoint = attrs(s)["last_snapshot_path"]
					if !strings.Contains(checkpoint, "/"+oldJob+"/chk-") {
						return fmt.Errorf("v2 starts from %q, not from a checkpoint of the cancelled job %s", checkpoint, oldJob)
					}
					return runsRestoredFrom(emulator, ns, &checkpoint)(s)
				},
			},
		},
	})
}

// ---- 2. stateless ----

// TestAccStreamingApplication_statelessRestoresNothing: upgrade_mode = "stateless" starts the
// new version empty, although the application has snapshots to restore.
func TestAccStreamingApplication_statelessRestoresNothing(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(3)
	var savepoint string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{Config: appConfig(t, ns, versions, "v1", "running")},
			{
				// A savepoint upgrade leaves a snapshot behind.
				Config:           appConfig(t, ns, versions, "v2", "running"),
				ConfigPlanChecks: expectOperation("savepoint_redeploy"),
				Check: func(s *terraform.State) error {
					savepoint = attrs(s)["last_snapshot_path"]
					return runsRestoredFrom(emulator, ns, &savepoint)(s)
				},
			},
			{
				Config:            appConfig(t, ns, versions, "v3", "running", `upgrade_mode = "stateless"`),
				ConfigPlanChecks:  expectOperation("stateless_redeploy"),
				ConfigStateChecks: deployed(ns, "v3"),
				Check: func(s *terraform.State) error {
					empty := ""
					if err := runsRestoredFrom(emulator, ns, &empty)(s); err != nil {
						return err
					}
					snaps, err := records.New(kubeClient(t)).ListSnapshotRecords(context.Background(), ns, records.SnapshotFilter{Application: "orders"})
					if err != nil {
						return err
					}
					if len(snaps) == 0 || snaps[0].Path != savepoint {
						return fmt.Errorf("the earlier snapshot %s should still be recorded, records: %+v", savepoint, snaps)
					}
					r, err := appRecord(t, ns)
					if err != nil {
						return err
					}
					if r.RestorePath != "" {
						return fmt.Errorf("application record says the job restored from %q; a stateless redeploy restores nothing", r.RestorePath)
					}
					return nil
				},
			},
		},
	})
}

// ---- 3. savepoint fails ----

// jobManagerGeneration is the metadata.generation of orders' JobManager Deployment.
func jobManagerGeneration(t *testing.T, ns string) (int64, error) {
	d, err := acctest.Kube(t).AppsV1().Deployments(ns).Get(context.Background(), kube.JobManagerDeploymentName("orders"), metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	return d.Generation, nil
}

// upgradePlannedAgain is a plan check for the step after a failed or rolled-back upgrade:
// the application still runs from, so the plan must show the upgrade to label again.
func upgradePlannedAgain(ns, from, label string) plancheck.PlanCheck {
	return upgradeAgain{ns, from, label}
}

type upgradeAgain struct{ ns, from, label string }

func (c upgradeAgain) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != app {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		if !rc.Change.Actions.Update() {
			resp.Error = fmt.Errorf("version %s/orders/%s is still deployed (the record says so), but the plan shows %v for %s instead of the "+
				"upgrade to %s: Terraform state says version_id = %v, deployed_version_id = %v, so the failed upgrade is recorded as done "+
				"and would never be retried", c.ns, c.from, rc.Change.Actions, app, c.label, before["version_id"], before["deployed_version_id"])
			return
		}
		if op := after["planned_operation"]; op != "savepoint_redeploy" {
			resp.Error = fmt.Errorf("the plan shows planned_operation = %v, want savepoint_redeploy to %s", op, c.label)
		}
		return
	}
	resp.Error = fmt.Errorf("%s is not in the plan", app)
}

// TestAccStreamingApplication_savepointFails: when Flink fails the savepoint, nothing is torn
// down, the error says why and that the job keeps running, and the same upgrade is planned
// again; once the cause is gone it succeeds.
func TestAccStreamingApplication_savepointFails(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(2)
	var job, savepoint string
	var generation int64
	var old *flinktest.Cluster

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running"),
				Check: func(s *terraform.State) (err error) {
					job = attrs(s)["job_id"]
					generation, err = jobManagerGeneration(t, ns)
					return err
				},
			},
			{
				PreConfig: func() {
					c, err := cluster(emulator, ns)
					if err != nil {
						t.Fatal(err)
					}
					old = c
					c.Faults().FailSavepoints("No space left on device")
				},
				Config: appConfig(t, ns, versions, "v2", "running"),
				ExpectError: regexp.MustCompile(`(?s)the\s+savepoint\s+of\s+job\s+[0-9a-f]{32}\s+failed;\s+the\s+job\s+keeps\s+running.*` +
					`No\s+space\s+left\s+on\s+device`),
			},
			{
				PreConfig: func() {
					// Nothing was torn down: the same job runs, the cluster objects are unchanged.
					c, err := cluster(emulator, ns)
					if err != nil {
						t.Fatal(err)
					}
					if c != old || c.JobID() != job || c.JobState() != "RUNNING" {
						t.Fatalf("after the failed savepoint the JobManager runs job %s (%s); want the original job %s still RUNNING",
							c.JobID(), c.JobState(), job)
					}
					if g, err := jobManagerGeneration(t, ns); err != nil || g != generation {
						t.Fatalf("JobManager Deployment generation %d -> %d (err=%v); a failed savepoint must not touch the cluster", generation, g, err)
					}
					r, err := appRecord(t, ns)
					if err != nil {
						t.Fatal(err)
					}
					if r.DeployedVersion != "v1" || r.JobID != job || r.Journal != nil {
						t.Fatalf("application record after the failed savepoint: deployed %q job %s journal %+v; want v1, %s, no journal",
							r.DeployedVersion, r.JobID, r.Journal, job)
					}
					c.Faults().FailSavepoints("")
				},
				Config: appConfig(t, ns, versions, "v2", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					upgradePlannedAgain(ns, "v1", "v2"),
				}},
				ConfigStateChecks: deployed(ns, "v2"),
				Check: func(s *terraform.State) error {
					savepoint = attrs(s)["last_snapshot_path"]
					if got := old.Savepoints(); len(got) != 1 || got[0] != savepoint {
						return fmt.Errorf("the old job completed savepoints %v; want exactly the recorded %s", got, savepoint)
					}
					return runsRestoredFrom(emulator, ns, &savepoint)(s)
				},
			},
		},
	})
}

// ---- 4. savepoint times out ----

// TestAccStreamingApplication_savepointTimeout: a savepoint slower than savepoint_timeout
// fails the apply but keeps the journal with its trigger id; the next plan shows recover,
// and the next apply restores from exactly the savepoint that slow trigger produced.
func TestAccStreamingApplication_savepointTimeout(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(2)
	timeout := `savepoint_timeout = "1s"`
	var old *flinktest.Cluster
	var savepoint string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{Config: appConfig(t, ns, versions, "v1", "running", timeout)},
			upgradeOutlivingSavepointTimeout(t, emulator, ns, versions, timeout, &old),
			{
				PreConfig: func() {
					r, err := appRecord(t, ns)
					if err != nil {
						t.Fatal(err)
					}
					if r.Journal == nil || r.Journal.TriggerID == "" || r.Journal.SavepointPath != "" {
						t.Fatalf("after the timeout the record's journal is %+v; want the savepoint's trigger id and no path yet", r.Journal)
					}
					// Flink finishes the slow savepoint after the apply gave up.
					savepoint = slowSavepointCompleted(t, old)
				},
				Config: appConfig(t, ns, versions, "v2", "running", timeout),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("recover")),
				}},
				ConfigStateChecks: deployed(ns, "v2"),
				Check: resource.ComposeTestCheckFunc(
					func(s *terraform.State) error {
						if got := attrs(s)["last_snapshot_path"]; got != savepoint {
							return fmt.Errorf("last_snapshot_path = %q; want the savepoint %s the slow trigger produced", got, savepoint)
						}
						if got := old.Savepoints(); len(got) != 1 {
							return fmt.Errorf("the old job completed savepoints %v; recovery must not take another one", got)
						}
						r, err := appRecord(t, ns)
						if err != nil {
							return err
						}
						if r.Journal != nil {
							return fmt.Errorf("journal left after the recovery: %+v", r.Journal)
						}
						return metadataExists(savepoint)
					},
					runsRestoredFrom(emulator, ns, &savepoint),
				),
			},
		},
	})
}

// upgradeOutlivingSavepointTimeout is the step that upgrades to v2 while the old job's
// savepoints take 3 s, longer than timeout ("1s"): the apply fails, the savepoint goes on in
// Flink. old is set to the old job's cluster.
func upgradeOutlivingSavepointTimeout(t *testing.T, emulator *flinktest.Emulator, ns string, versions []ver, timeout string, old **flinktest.Cluster) resource.TestStep {
	return resource.TestStep{
		PreConfig: func() {
			c, err := cluster(emulator, ns)
			if err != nil {
				t.Fatal(err)
			}
			*old = c
			c.Faults().SlowSavepoints(3 * time.Second)
		},
		Config:      appConfig(t, ns, versions, "v2", "running", timeout),
		ExpectError: words("did not complete within savepoint_timeout (1s)"),
	}
}

// slowSavepointCompleted waits until the old job's slow savepoint completed and returns it.
func slowSavepointCompleted(t *testing.T, old *flinktest.Cluster) string {
	deadline := time.Now().Add(15 * time.Second)
	for len(old.Savepoints()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow savepoint never completed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return old.Savepoints()[0]
}

// ---- 5. the new version never becomes healthy: rollback ----

// failVersionsMarked makes the job of every JobManager whose Flink configuration has
// failOnStart fail as soon as it starts, until the test ends.
const failOnStart = "acctest.fail-on-start"

func failVersionsMarked(t *testing.T) {
	rt := runtime(t)
	rt.SetOnJobManager(func(jm acctest.JobManagerLaunch, c *flinktest.Cluster) {
		if reason := jm.Config[failOnStart]; reason != "" {
			c.Fail(reason)
		}
	})
	t.Cleanup(func() { rt.SetOnJobManager(nil) })
}

// TestAccStreamingApplication_rollback: v2's job fails at start, so the apply restarts v1
// from the savepoint it just took and fails naming both; v1 runs again, the record says v1,
// and the next plan shows the upgrade to v2 again.
func TestAccStreamingApplication_rollback(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	failVersionsMarked(t)
	broken := []ver{{"v1", "flink:1.20.1", nil}, {"v2", "flink:1.20.2", map[string]string{failOnStart: "NullPointerException in OrdersJob.open"}}}
	fixed := []ver{{"v1", "flink:1.20.1", nil}, {"v3", "flink:1.20.3", nil}}
	var v1Job, savepoint string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, broken[:1], "v1", "running"),
				Check:  func(s *terraform.State) error { v1Job = attrs(s)["job_id"]; return nil },
			},
			{
				Config: appConfig(t, ns, broken, "v2", "running"),
				ExpectError: regexp.MustCompile(`(?s)version\s+v2\s+did\s+not\s+become\s+healthy.*NullPointerException\s+in\s+OrdersJob\.open.*` +
					`rolled\s+back\s+to\s+version\s+v1,\s+which\s+runs\s+again\s+from\s+savepoint`),
			},
			{
				PreConfig: func() {
					r, err := appRecord(t, ns)
					if err != nil {
						t.Fatal(err)
					}
					if r.DeployedVersion != "v1" || r.Journal != nil || r.JobID == v1Job {
						t.Fatalf("after the rollback the record says deployed %q, job %s, journal %+v; want v1 in a new job, no journal",
							r.DeployedVersion, r.JobID, r.Journal)
					}
					savepoint = r.LastSnapshotPath
					c, err := cluster(emulator, ns)
					if err != nil {
						t.Fatal(err)
					}
					if c.JobID() != r.JobID || c.JobState() != "RUNNING" || c.RestoredFrom() != savepoint || savepoint == "" {
						t.Fatalf("after the rollback the JobManager runs job %s (%s) restored from %q; want job %s RUNNING from the upgrade's savepoint %q",
							c.JobID(), c.JobState(), c.RestoredFrom(), r.JobID, savepoint)
					}
					if _, ok := c.Spec().Config[failOnStart]; ok {
						t.Fatal("the rolled-back JobManager runs v2's configuration")
					}
				},
				// Still v2 in the configuration: the upgrade is planned again (and fails again).
				Config: appConfig(t, ns, broken, "v2", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					upgradePlannedAgain(ns, "v1", "v2"),
				}},
				ExpectError: words("rolled back to version v1"),
			},
			{
				// A fixed version goes through, from a savepoint of the rolled-back job.
				Config:            appConfig(t, ns, append(fixed, broken[1]), "v3", "running"),
				ConfigPlanChecks:  expectOperation("savepoint_redeploy"),
				ConfigStateChecks: deployed(ns, "v3"),
				Check: func(s *terraform.State) error {
					restored := attrs(s)["last_snapshot_path"]
					if restored == savepoint {
						return fmt.Errorf("v3 restored from the rollback's savepoint %s, not from a savepoint of the running v1 job", savepoint)
					}
					return runsRestoredFrom(emulator, ns, &restored)(s)
				},
			},
		},
	})
}

// ---- 6. the provider dies mid-operation ----

// dieAfter simulates a provider that died during an upgrade from the running version to
// `to` after it reached step: it stops the running job with a savepoint itself (as step
// "savepoint" would), records the snapshot, and leaves the journal in the application
// record. It returns the savepoint path and the cluster it stopped.
func dieAfter(t *testing.T, ns, to, step string) (string, *flinktest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kc := kubeClient(t)
	r, err := appRecord(t, ns)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster(acctest.Emulator(t), ns)
	if err != nil {
		t.Fatal(err)
	}
	client := flink.New(ns+"/orders", "http://"+kube.RestHost("orders", ns)+":8081", &http.Client{Transport: c.Transport()})
	trigger := flink.NewTriggerID()
	dir := "file://" + filepath.Join(acctest.SnapshotDir(t), ns, "orders")
	if _, err := client.StopWithSavepoint(ctx, r.JobID, flink.StopRequest{TargetDirectory: dir, FormatType: flink.FormatCanonical, TriggerID: trigger}); err != nil {
		t.Fatal(err)
	}
	path, err := flink.WaitForSavepoint(ctx, client, r.JobID, trigger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	snap := records.SnapshotRecord{
		Namespace: ns, Application: "orders", Name: kube.NewSnapshotName("orders", now), Path: path, Origin: records.OriginUpgrade,
		JobID: r.JobID, VersionLabel: r.Version.Label, FlinkVersion: r.Version.FlinkVersion, Format: records.FormatCanonical,
		CreatedAt: now, State: records.SnapshotCompleted,
	}
	if err := records.New(kc).PutSnapshotRecord(ctx, snap); err != nil {
		t.Fatal(err)
	}
	from := r.Version
	r.Journal = &records.Journal{
		Operation: "savepoint_redeploy", FromVersion: from.Label, ToVersion: to, Step: step, StartedAt: now,
		SavepointPath: path, TriggerID: trigger, SnapshotName: snap.Name, TargetState: "running", From: &from, FromJobID: r.JobID,
	}
	r.LastSnapshotPath, r.LastSnapshotName = path, snap.Name
	if _, err := records.New(kc).PutAppRecord(ctx, &r); err != nil {
		t.Fatal(err)
	}
	return path, c
}

// TestAccStreamingApplication_interrupted: a provider died after the savepoint was taken,
// and (next upgrade) while deploying. Each time the next plan shows recover and the apply
// finishes the upgrade from exactly the recorded savepoint, taking no new one.
func TestAccStreamingApplication_interrupted(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(3)
	var savepoint string
	var stopped *flinktest.Cluster

	recovers := func(label string) resource.TestStep {
		return resource.TestStep{
			Config: appConfig(t, ns, versions, label, "running"),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("recover")),
			}},
			ConfigStateChecks: deployed(ns, label),
			Check: resource.ComposeTestCheckFunc(
				runsRestoredFrom(emulator, ns, &savepoint),
				func(s *terraform.State) error {
					if got := attrs(s)["last_snapshot_path"]; got != savepoint {
						return fmt.Errorf("last_snapshot_path = %q, want the interrupted upgrade's savepoint %s", got, savepoint)
					}
					if got := stopped.Savepoints(); len(got) != 1 || got[0] != savepoint {
						return fmt.Errorf("the stopped job completed savepoints %v; recovery must take none", got)
					}
					r, err := appRecord(t, ns)
					if err != nil {
						return err
					}
					if r.Journal != nil || r.DeployedVersion != label {
						return fmt.Errorf("after recovery the record says deployed %q, journal %+v", r.DeployedVersion, r.Journal)
					}
					return nil
				},
			),
		}
	}
	afterTaken, afterDeploying := recovers("v2"), recovers("v3")
	afterTaken.PreConfig = func() { savepoint, stopped = dieAfter(t, ns, "v2", "snapshot_taken") }
	afterDeploying.PreConfig = func() { savepoint, stopped = dieAfter(t, ns, "v3", "deploying") }

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{Config: appConfig(t, ns, versions, "v1", "running")},
			afterTaken,
			afterDeploying,
		},
	})
}

// TestAccStreamingApplication_interruptedWhileRollingBack: a provider died while rolling
// back a failed upgrade v2 -> v3. The next apply finishes the rollback (v2 from the recorded
// savepoint, no new savepoint) and, like any rollback (docs/design.md §5), fails saying so:
// v3 is not what runs, so the plan after it shows the upgrade to v3 again.
func TestAccStreamingApplication_interruptedWhileRollingBack(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(3)
	var savepoint string
	var stopped *flinktest.Cluster

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{Config: appConfig(t, ns, versions, "v2", "running")},
			{
				PreConfig: func() { savepoint, stopped = dieAfter(t, ns, "v3", "rolling_back") },
				Config:    appConfig(t, ns, versions, "v3", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("recover")),
				}},
				// The provider's own error, not Terraform's "inconsistent result after apply".
				ExpectError: regexp.MustCompile(`rolled\s+back\s+to\s+(version\s+)?v2`),
			},
			{
				PreConfig: func() {
					r, err := appRecord(t, ns)
					if err != nil {
						t.Fatal(err)
					}
					if r.Journal != nil || r.DeployedVersion != "v2" {
						t.Fatalf("after finishing the rollback the record says deployed %q, journal %+v; want v2, none", r.DeployedVersion, r.Journal)
					}
					c, err := cluster(emulator, ns)
					if err != nil {
						t.Fatal(err)
					}
					if c.JobID() != r.JobID || c.JobState() != "RUNNING" || c.RestoredFrom() != savepoint {
						t.Fatalf("after the rollback the JobManager runs job %s (%s) restored from %q; want job %s RUNNING from %s",
							c.JobID(), c.JobState(), c.RestoredFrom(), r.JobID, savepoint)
					}
					if got := stopped.Savepoints(); len(got) != 1 {
						t.Fatalf("the stopped job completed savepoints %v; recovery must take none", got)
					}
				},
				Config: appConfig(t, ns, versions, "v3", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					upgradePlannedAgain(ns, "v2", "v3"),
				}},
				ConfigStateChecks: deployed(ns, "v3"),
			},
		},
	})
}

// ---- 7. locks ----

// holdLock writes orders' Lease as held by holder, renewed at renewed.
func holdLock(t *testing.T, ns, holder string, renewed time.Time) {
	t.Helper()
	leases := acctest.Kube(t).CoordinationV1().Leases(ns)
	ctx := context.Background()
	at := metav1.NewMicroTime(renewed)
	seconds := int32(60)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: kube.LockName("orders"), Namespace: ns,
			Labels: map[string]string{
				kube.LabelManagedBy: kube.ManagedByValue, kube.LabelName: "orders",
				kube.LabelComponent: kube.ComponentRecord, kube.LabelRecord: kube.RecordLock,
			},
			Annotations: map[string]string{kube.AnnotationLockOperation: "savepoint_redeploy to v9"},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: &at, RenewTime: &at},
	}
	cur, err := leases.Get(ctx, lease.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
	case err == nil:
		lease.ResourceVersion = cur.ResourceVersion
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestAccStreamingApplication_lock: an apply fails at once, naming the holder, while another
// pipeline holds the application's Lease; an expired Lease (its holder died) is taken over.
func TestAccStreamingApplication_lock(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(2)
	const other = "terraform-provider-flink@ci-runner-7/4242/deadbeef"
	var job string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running"),
				Check:  func(s *terraform.State) error { job = attrs(s)["job_id"]; return nil },
			},
			{
				PreConfig:   func() { holdLock(t, ns, other, time.Now()) },
				Config:      appConfig(t, ns, versions, "v2", "running"),
				ExpectError: regexp.MustCompile(`is\s+locked\s+by\s+` + regexp.QuoteMeta(other) + `\s+\(savepoint_redeploy\s+to\s+v9\)`),
			},
			{
				PreConfig: func() {
					c, err := cluster(emulator, ns)
					if err != nil {
						t.Fatal(err)
					}
					if c.JobID() != job || c.JobState() != "RUNNING" || len(c.Savepoints()) != 0 {
						t.Fatalf("while locked the job changed: %s %s savepoints %v; want %s RUNNING untouched", c.JobID(), c.JobState(), c.Savepoints(), job)
					}
					// The holder died an hour ago.
					holdLock(t, ns, other, time.Now().Add(-time.Hour))
				},
				Config: appConfig(t, ns, versions, "v2", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					upgradePlannedAgain(ns, "v1", "v2"),
				}},
				ConfigStateChecks: deployed(ns, "v2"),
				Check: func(*terraform.State) error {
					_, err := acctest.Kube(t).CoordinationV1().Leases(ns).Get(context.Background(), kube.LockName("orders"), metav1.GetOptions{})
					if !apierrors.IsNotFound(err) {
						return fmt.Errorf("the taken-over lock was not released after the apply (err=%v)", err)
					}
					return acctest.HasEvent(t, ns, "orders", "Warning/"+lifecycle.EventLockTakenOver, other, "savepoint_redeploy to v9")
				},
			},
		},
	})
}

// ---- 8. retention ----

// TestAccStreamingApplication_retention: with max_count = 1, three upgrades leave only the
// newest automatic snapshot; the others' files are deleted. A flink_snapshot of the same
// application is never disposed.
func TestAccStreamingApplication_retention(t *testing.T) {
	ns := acctest.Namespace(t)
	versions := plainVersions(4)
	retention := `snapshot_retention = { max_count = 1 }`
	manual := fmt.Sprintf(`
resource "flink_snapshot" "manual" {
  application = flink_streaming_application.test.name
  namespace   = %q
}
`, ns)
	var kept string   // the flink_snapshot's path
	var seen []string // automatic snapshot paths, oldest first

	check := func(s *terraform.State) error {
		ctx := context.Background()
		seen = append(seen, attrs(s)["last_snapshot_path"])
		snaps, err := records.New(kubeClient(t)).ListSnapshotRecords(ctx, ns, records.SnapshotFilter{Application: "orders"})
		if err != nil {
			return err
		}
		var automatic []string
		manualFound := false
		for _, sn := range snaps {
			switch {
			case sn.Origin == records.OriginUpgrade:
				automatic = append(automatic, sn.Path)
			case sn.Path == kept:
				manualFound = true
			}
		}
		if len(automatic) != 1 || automatic[0] != seen[len(seen)-1] {
			return fmt.Errorf("automatic snapshot records %v; want only the newest %s", automatic, seen[len(seen)-1])
		}
		if !manualFound {
			return fmt.Errorf("the flink_snapshot's record (%s) was disposed by retention", kept)
		}
		for _, p := range seen[:len(seen)-1] {
			if _, err := os.Stat(localDir(p)); !os.IsNotExist(err) {
				return fmt.Errorf("the files of pruned snapshot %s are still there (err=%v)", p, err)
			}
		}
		if err := metadataExists(seen[len(seen)-1]); err != nil {
			return err
		}
		return metadataExists(kept)
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running", retention) + manual,
				Check: func(s *terraform.State) error {
					kept = s.RootModule().Resources["flink_snapshot.manual"].Primary.Attributes["path"]
					return metadataExists(kept)
				},
			},
			{Config: appConfig(t, ns, versions, "v2", "running", retention) + manual, Check: check},
			{Config: appConfig(t, ns, versions, "v3", "running", retention) + manual, Check: check},
			{
				Config: appConfig(t, ns, versions, "v4", "running", retention) + manual,
				Check: func(s *terraform.State) error {
					if err := check(s); err != nil {
						return err
					}
					dirs, err := snapshotDirs(t, ns)
					if err != nil {
						return err
					}
					if len(dirs) != 2 {
						return fmt.Errorf("savepoint directories left in the snapshot storage: %v; want the newest upgrade's and the flink_snapshot's", dirs)
					}
					return acctest.HasEvent(t, ns, "orders", "Normal/"+lifecycle.EventSnapshotPruned, seen[len(seen)-2], "retention: beyond max_count 1")
				},
			},
		},
	})
}
