package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// TestE2E_IncompatibleVersion_RollsBackWithinItsOwnBudget is a first-time user's upgrade: the
// job sets no operator uids, and v2 drops one operator and renames another, so v2 cannot
// restore v1's savepoint and its JobManager fails while restoring. With 2 TaskManagers and
// readiness_timeout = "2m", the upgrade fails and the rollback brings v1 back from the same
// savepoint within its own budget: v1 counts on from the savepoint, the apply says it rolled
// back, no journal is left, and the next plan is the same upgrade again (not recover).
func TestE2E_IncompatibleVersion_RollsBackWithinItsOwnBudget(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	versions := versionsWithParallelism(t, ns, map[string]string{"v1": acctest.FixtureJobNoUidsClass, "v2": acctest.FixtureJobNoUidsV2Class}, 2)
	cfg := func(label string) string {
		return acctest.ProviderConfig(t) + versions + fmt.Sprintf(`
resource "flink_streaming_application" "counter" {
  name       = "counter"
  namespace  = %q
  version_id = flink_application_version.%s.id
  rollback   = { readiness_timeout = "2m" }
}
`, ns, label)
	}
	kc := &kube.Client{Kube: acctest.Kube(t)}
	var before acctest.FixtureCount
	var clock *rollbackClock

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg("v1"),
				Check: func(*terraform.State) error {
					first := counter(t, ns, "counter", 0)
					before = counter(t, ns, "counter", first.Counted)
					return nil
				},
			},
			{
				PreConfig: func() { clock = watchRollback(t, kc, ns, "counter") },
				Config:    cfg("v2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
				}},
				ExpectError: regexp.MustCompile(`(?s)version\s+v2\s+did\s+not\s+become\s+healthy.*rolled\s+back\s+to\s+version\s+v1`),
			},
			{
				PreConfig: func() {
					clock.stop()
					clock.report(t)
					if !jobManagerLogSays(t, ns, "Cannot map checkpoint/savepoint state") {
						t.Error("no JobManager log says v2 could not map v1's state: v2 failed for another reason")
					}
					record, _, err := records.New(kc).GetAppRecord(context.Background(), ns, "counter")
					if err != nil {
						t.Fatalf("application record: %v", err)
					}
					if record.Journal != nil {
						t.Errorf("a journal is left after the rollback: %+v", *record.Journal)
					}
					if record.DeployedVersion != "v1" {
						t.Errorf("deployed version %q after the rollback, want v1", record.DeployedVersion)
					}
					after := counter(t, ns, "counter", 0)
					if after.Restored < before.Counted {
						t.Errorf("v1 after the rollback restored %d events, but it had counted %d before the upgrade", after.Restored, before.Counted)
					}
					restored := restoredFrom(t, ns, "counter", record.JobID)
					if record.LastSnapshotPath == "" || !sameFlinkPath(restored, record.LastSnapshotPath) {
						t.Errorf("v1 after the rollback restored %q, not the upgrade's savepoint %q", restored, record.LastSnapshotPath)
					}
					if err := snapshotStored(t, record.LastSnapshotPath); err != nil {
						t.Error(err)
					}
				},
				// The failed upgrade is still what the configuration asks for.
				Config:             cfg("v2"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
				}},
			},
		},
	})
}

// jobManagerLogSays reports whether the log of a JobManager pod of namespace ns contains text.
func jobManagerLogSays(t *testing.T, ns, text string) bool {
	t.Helper()
	logs, err := acctest.Current().JobManagerLogs(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil && strings.Contains(string(b), text) {
			return true
		}
	}
	return false
}

// restoredFrom is the savepoint or checkpoint path Flink says the job restored.
func restoredFrom(t *testing.T, ns, name, jobID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stats, err := flink.New(ns+"/"+name, kube.RestURL(name, ns), nil).Checkpoints(ctx, jobID)
	if err != nil {
		t.Fatalf("checkpoint statistics of job %s: %v", jobID, err)
	}
	if stats.Latest.Restored == nil {
		return ""
	}
	return stats.Latest.Restored.ExternalPath
}

// sameFlinkPath compares paths Flink may write as file:/x or file:///x.
func sameFlinkPath(a, b string) bool {
	norm := func(s string) string {
		return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "file://"), "file:"), "/")
	}
	return norm(a) == norm(b)
}

// rollbackClock times a rollback from outside the provider: from when the provider starts it
// (the journal reaches rolling_back) until the rollback's job and all its tasks run.
type rollbackClock struct {
	mu               sync.Mutex
	applyStarted     time.Time
	rollbackStarted  time.Time
	rollbackRunning  time.Time
	failedJob, jobID string
	cancel           context.CancelFunc
	done             chan struct{}
}

// The journal steps lifecycle writes before it starts the new version and before it restarts
// the previous one.
const (
	stepDeploying   = "deploying"
	stepRollingBack = "rolling_back"
)

func watchRollback(t *testing.T, kc *kube.Client, ns, name string) *rollbackClock {
	ctx, cancel := context.WithCancel(context.Background())
	c := &rollbackClock{applyStarted: time.Now(), cancel: cancel, done: make(chan struct{})}
	t.Cleanup(c.stop)
	fc := flink.New(ns+"/"+name, kube.RestURL(name, ns), &http.Client{Timeout: 5 * time.Second})
	go func() {
		defer close(c.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			c.mu.Lock()
			started, jobID := !c.rollbackStarted.IsZero(), c.jobID
			c.mu.Unlock()
			if jobID == "" {
				record, _, err := records.New(kc).GetAppRecord(ctx, ns, name)
				if err != nil || record.Journal == nil {
					continue
				}
				c.mu.Lock()
				switch {
				case record.Journal.Step == stepDeploying:
					c.failedJob = record.JobID
				case record.Journal.Step == stepRollingBack && !started:
					c.rollbackStarted = time.Now()
				}
				// The rollback's deploy writes its job id (and the previous version) after the step.
				if record.Journal.Step == stepRollingBack && record.DeployedVersion == record.Journal.FromVersion {
					c.jobID = record.JobID
				}
				c.mu.Unlock()
				continue
			}
			if job, err := fc.Job(ctx, jobID); err == nil && flink.JobHealthy(job) {
				c.mu.Lock()
				c.rollbackRunning = time.Now()
				c.mu.Unlock()
				return
			}
		}
	}()
	return c
}

func (c *rollbackClock) stop() {
	c.cancel()
	<-c.done
}

// report logs how long the rollback took and fails the test if it was not seen to end.
func (c *rollbackClock) report(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.rollbackStarted.IsZero():
		t.Errorf("the provider was never seen rolling back (journal step %q)", stepRollingBack)
	case c.rollbackRunning.IsZero():
		t.Errorf("the rollback's job (%q) was never seen running with all its tasks", c.jobID)
	default:
		t.Logf("rollback timing: v2 (job %s) failed %s after the apply started; v1 (job %s) and all its tasks ran %s after the rollback started",
			c.failedJob, c.rollbackStarted.Sub(c.applyStarted).Round(100*time.Millisecond), c.jobID,
			c.rollbackRunning.Sub(c.rollbackStarted).Round(100*time.Millisecond))
	}
}
