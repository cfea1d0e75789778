// Package e2e runs the provider end to end on real Flink: the terraform (or tofu) CLI drives
// the provider against a real kube-apiserver, etcd and kube-controller-manager, and the test
// node agent runs every JobManager and TaskManager pod as a local Flink JVM (FLINK_RUNTIME=real,
// set by `make test-e2e`). The fixture job (test/e2e/fixture-job) counts events in keyed state
// and reports the count as a metric, so a test can tell a restore from a fresh start.
package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

func TestMain(m *testing.M) { os.Exit(acctest.Run(m)) }

const app = "flink_streaming_application.counter"

// flinkMinor is the Flink release the scenario runs: FLINK_E2E_VERSION (e.g. "2.2"), else 1.20.
func flinkMinor() string {
	if v := os.Getenv("FLINK_E2E_VERSION"); v != "" {
		return v
	}
	return "1.20"
}

// requireRealFlink skips nothing silently: without the real runtime the test fails.
func requireRealFlink(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("end-to-end test: run with `make test-e2e` (TF_ACC=1 FLINK_RUNTIME=real)")
	}
	if s := acctest.Current(); s == nil || !s.RealFlink() {
		t.Fatal("end-to-end tests need FLINK_RUNTIME=real (real Flink JVMs); run them with `make test-e2e`")
	}
}

// versions renders one flink_application_version per entry: label -> entry class.
func versions(t *testing.T, ns string, classes map[string]string) string {
	return versionsWithParallelism(t, ns, classes, 1)
}

// versionsWithParallelism is versions with parallelism p, on p one-slot TaskManagers.
func versionsWithParallelism(t *testing.T, ns string, classes map[string]string, p int) string {
	var b strings.Builder
	for label, class := range classes {
		b.WriteString(fixtureVersion(t, ns, label, class, p, ""))
	}
	return b.String()
}

// fixtureVersion is version label of counter running the fixture's class with parallelism
// p on p one-slot TaskManagers, checkpointing every second, with extraConf (HCL lines) in
// its Flink configuration.
func fixtureVersion(t *testing.T, ns, label, class string, p int, extraConf string) string {
	storageConf, storageSecrets := acctest.FlinkStorage(t, ns)
	return fmt.Sprintf(`
resource "flink_application_version" %[1]q {
  application   = "counter"
  namespace     = %[2]q
  version       = %[1]q
  image         = "flink:%[3]s-java17"
  jar_uri       = %[4]q
  entry_class   = %[5]q
  flink_version = %[3]q
  parallelism   = %[7]d
  flink_configuration = {
    "execution.checkpointing.interval" = "1s"
    "state.checkpoints.dir"            = %[6]q
%[8]s%[9]s  }
  %[10]s
  job_manager  = { memory = "1g", cpu = 0.5 }
  task_manager = { memory = "1g", cpu = 0.5, replicas = %[7]d, task_slots = 1 }
}
`, label, ns, flinkMinor(), acctest.FixtureJarURI, class, acctest.StateDir(t, "checkpoints/"+ns), p, extraConf, storageConf, storageSecrets)
}

// declaringVersion is fixtureVersion (parallelism 1) declaring the uids of the operators
// that keep state, which the plan compares with the state a restore is given.
func declaringVersion(t *testing.T, ns, label, class string, uids ...string) string {
	quoted := make([]string, len(uids))
	for i, uid := range uids {
		quoted[i] = strconv.Quote(uid)
	}
	return strings.Replace(fixtureVersion(t, ns, label, class, 1, ""), "  job_manager",
		"  stateful_operator_uids = ["+strings.Join(quoted, ", ")+"]\n  job_manager", 1)
}

func application(name, ns, version, state, extra string) string {
	return fmt.Sprintf(`
resource "flink_streaming_application" %[1]q {
  name       = %[1]q
  namespace  = %[2]q
  version_id = flink_application_version.%[3]s.id
  state      = %[4]q
  rollback   = { readiness_timeout = %[6]q }
  %[5]s
}
`, name, ns, version, state, extra, readinessTimeout())
}

// readinessTimeout is how long the scenarios' new jobs may take until all their tasks run. On
// the real node (2 cores, TaskManagers limited to half a core) a job restoring a savepoint
// took up to 88 s, and a rollback failed its 90 s budget (CI, TestE2E_SavepointUpgradeContinuesState):
// a budget is no timing goal, so the node gets room. The process runtime keeps 90 s, which
// the stuck-job scenario waits out.
func readinessTimeout() string {
	if acctest.NodeMode() {
		return "4m"
	}
	return "90s"
}

// counter reads the fixture job's count of the application's current job, waiting until
// Flink reports it and it is above min.
func counter(t *testing.T, ns, name string, min int64) acctest.FixtureCount {
	t.Helper()
	record, _, err := records.New(&kube.Client{Kube: acctest.Kube(t)}).GetAppRecord(context.Background(), ns, name)
	if err != nil {
		t.Fatalf("application record: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var count acctest.FixtureCount
	last := fmt.Errorf("no answer")
	err = wait.Until(ctx, func(ctx context.Context) (bool, error) {
		count, last = acctest.ReadFixtureCount(ctx, nil, "http://"+kube.RestHost(name, ns)+":8081", record.JobID)
		return last == nil && count.Counted > min, nil
	}, flink.IsRetryable)
	if err != nil {
		t.Fatalf("the counter of %s/%s (job %s) did not pass %d: %v (last: %+v, %v)", ns, name, record.JobID, min, err, count, last)
	}
	return count
}

// TestE2E_SavepointUpgradeContinuesState is the main scenario: v1 counts; the upgrade to v2
// stops it with a savepoint and v2's counter continues from v1's count, not from zero (the
// plan says v2's new "audit" starts empty); a version that drops a stateful operator is
// rolled back when it declares nothing, and refused at plan time, naming the operators, when
// it declares its stateful operators; with allow_non_restored_state it runs; suspend and
// resume continue the count; destroy keeps the final savepoint. With FLINK_E2E_UPGRADE_CORE set
// only the upgrade, suspend, resume and destroy run.
func TestE2E_SavepointUpgradeContinuesState(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	all := versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass, "v3": acctest.FixtureJobMinusClass}) +
		declaringVersion(t, ns, "v2", acctest.FixtureJobPlusClass, "generator", "counter", "tracker", "audit") +
		declaringVersion(t, ns, "v4", acctest.FixtureJobMinusClass, "generator", "counter")
	cfg := func(version, state, extra string) string {
		return acctest.ProviderConfig(t) + all + application("counter", ns, version, state, extra)
	}
	var before acctest.FixtureCount
	// continuesCount checks that the job now running restored at least what was counted
	// before (what names that job in the error) and counts on from there.
	continuesCount := func(what string) func(*terraform.State) error {
		return func(*terraform.State) error {
			after := counter(t, ns, "counter", 0)
			if after.Restored < before.Counted {
				return fmt.Errorf("%s restored %d < %d counted before", what, after.Restored, before.Counted)
			}
			before = after
			return nil
		}
	}

	upgrade := []resource.TestStep{
		{
			Config: cfg("v1", "running", ""),
			Check: func(*terraform.State) error {
				if err := runsFlinkRelease(t, ns, "counter"); err != nil {
					return err
				}
				first := counter(t, ns, "counter", 0)
				before = counter(t, ns, "counter", first.Counted) // it grows
				if before.Restored != 0 {
					return fmt.Errorf("v1 started from %d restored events, want an empty start", before.Restored)
				}
				return nil
			},
		},
		{
			Config: cfg("v2", "running", ""),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
				// Compared with v1's latest checkpoint, before v1 is stopped.
				plancheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("status"), knownvalue.StringExact("compatible")),
				plancheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("empty_operators"),
					knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("audit")})),
			}},
			Check: func(s *terraform.State) error {
				after := counter(t, ns, "counter", 0)
				if after.Restored < before.Counted {
					return fmt.Errorf("v2 restored %d events, but v1 had counted %d before the upgrade: state was lost", after.Restored, before.Counted)
				}
				if after.Counted < after.Restored {
					return fmt.Errorf("v2 counts %d < restored %d", after.Counted, after.Restored)
				}
				before = after
				return snapshotStored(t, s.RootModule().Resources[app].Primary.Attributes["last_snapshot_path"])
			},
		},
	}
	// The rollback and the plan-time refusal depend neither on the CLI nor on the Flink
	// release's configuration file: the phases that run this scenario for those (OpenTofu,
	// Flink 1.18) set FLINK_E2E_UPGRADE_CORE and run the rest: the upgrade, suspend and
	// resume, and destroy with its final savepoint.
	rollbackAndRefusal := []resource.TestStep{
		{
			// v3 drops the "tracker" operator whose state is in the savepoint: Flink refuses
			// to start it, and the provider rolls back to v2 from the same savepoint.
			Config:      cfg("v3", "running", ""),
			ExpectError: regexp.MustCompile(`(?s)did\s+not\s+become\s+healthy.*rolled\s+back\s+to\s+version\s+v2`),
		},
		{
			Config: cfg("v2", "running", ""),
			Check:  continuesCount("after the rollback v2"),
		},
		{
			// v4 is v3 declaring its stateful operators: the plan reads v2's latest
			// checkpoint and refuses before anything is stopped.
			Config:      cfg("v4", "running", ""),
			ExpectError: regexp.MustCompile(`(?s)cannot\s+restore\s+the\s+state\s+of\s+audit,\s+tracker`),
		},
		{
			Config: cfg("v4", "running", `restore = { allow_non_restored_state = true }`),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("status"), knownvalue.StringExact("drops_state")),
				plancheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("dropped_operators"),
					knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("audit"), knownvalue.StringExact("tracker")})),
			}},
			Check: continuesCount("v4"),
		},
	}
	last, lastExtra := "v4", `restore = { allow_non_restored_state = true }`
	if os.Getenv("FLINK_E2E_UPGRADE_CORE") != "" {
		rollbackAndRefusal, last, lastExtra = nil, "v2", ""
	}
	suspendResumeDestroy := []resource.TestStep{
		{
			Config: cfg(last, "suspended", lastExtra),
		},
		{
			Config: cfg(last, "running", lastExtra),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("resume")),
				// The suspend's savepoint, as its record says: all of the version's state.
				plancheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("status"), knownvalue.StringExact("compatible")),
			}},
			Check: continuesCount("the resumed job, after the suspend,"),
		},
		{
			Config:  cfg(last, "running", lastExtra),
			Destroy: true,
			Check: func(*terraform.State) error {
				snaps, err := records.New(&kube.Client{Kube: acctest.Kube(t)}).ListSnapshotRecords(context.Background(), ns,
					records.SnapshotFilter{Application: "counter", Origin: records.OriginDestroy})
				if err != nil {
					return err
				}
				if len(snaps) != 1 {
					return fmt.Errorf("want one final snapshot after destroy, got %d", len(snaps))
				}
				return snapshotStored(t, snaps[0].Path)
			},
		},
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps:                    slices.Concat(upgrade, rollbackAndRefusal, suspendResumeDestroy),
	})
}

// TestE2E_ForkFromSnapshot takes a flink_snapshot of a running application and starts a
// second application from it (A/B): the fork's counter starts from the snapshot's count.
func TestE2E_ForkFromSnapshot(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	base := acctest.ProviderConfig(t) + versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass}) +
		application("counter", ns, "v1", "running", "")
	snapshot := `
resource "flink_snapshot" "ab" {
  application = flink_streaming_application.counter.name
  namespace   = flink_streaming_application.counter.namespace
}
`
	fork := fmt.Sprintf(`
resource "flink_application_version" "fork" {
  application   = "counter-b"
  namespace     = %[1]q
  version       = "v1"
  image         = "flink:%[2]s-java17"
  jar_uri       = %[3]q
  entry_class   = %[4]q
  flink_version = %[2]q
  job_manager   = { memory = "1g", cpu = 0.5 }
  task_manager  = { memory = "1g", cpu = 0.5 }
}

resource "flink_streaming_application" "fork" {
  name       = "counter-b"
  namespace  = %[1]q
  version_id = flink_application_version.fork.id
  restore    = { strategy = "snapshot", snapshot_id = flink_snapshot.ab.id }
}
`, ns, flinkMinor(), acctest.FixtureJarURI, acctest.FixtureJobClass)
	var taken acctest.FixtureCount

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: base,
				Check: func(*terraform.State) error {
					taken = counter(t, ns, "counter", 0)
					return nil
				},
			},
			{
				Config: base + snapshot + fork,
				Check: func(s *terraform.State) error {
					if err := snapshotStored(t, s.RootModule().Resources["flink_snapshot.ab"].Primary.Attributes["path"]); err != nil {
						return err
					}
					b := counter(t, ns, "counter-b", 0)
					if b.Restored < taken.Counted {
						return fmt.Errorf("the fork restored %d events, fewer than the %d counted before the snapshot", b.Restored, taken.Counted)
					}
					counter(t, ns, "counter", taken.Counted) // the original keeps running and counting
					return nil
				},
			},
		},
	})
}

// runsFlinkRelease checks that the application runs the release the scenario asked for
// (flinkMinor), configured through that release's file: flink-conf.yaml on 1.18, config.yaml
// from 1.19.
func runsFlinkRelease(t *testing.T, ns, name string) error {
	fv, err := flinkconf.ParseVersion(flinkMinor())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cm, err := acctest.Kube(t).CoreV1().ConfigMaps(ns).Get(ctx, kube.ConfigMapName(name), metav1.GetOptions{})
	if err != nil {
		return err
	}
	if _, ok := cm.Data[fv.ConfigFileName()]; !ok {
		return fmt.Errorf("ConfigMap %s has no %s (keys %v)", cm.Name, fv.ConfigFileName(), slices.Sorted(maps.Keys(cm.Data)))
	}
	ov, err := flink.New(ns+"/"+name, "http://"+kube.RestHost(name, ns)+":8081", nil).Overview(ctx)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(ov.FlinkVersion, fv.String()+".") {
		return fmt.Errorf("the JobManager runs Flink %s, want %s", ov.FlinkVersion, fv)
	}
	t.Logf("%s/%s runs Flink %s, configured by %s", ns, name, ov.FlinkVersion, fv.ConfigFileName())
	return nil
}

// snapshotStored checks that the snapshot at a Flink path is complete in the test's storage.
func snapshotStored(t *testing.T, path string) error { return acctest.SnapshotStored(t, path) }
