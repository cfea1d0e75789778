package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestE2E_StuckJobWithoutHA_RestartTaskManagersRunsItAgain: without high availability a
// JobManager killed while its TaskManager survives starts the job again, and the surviving
// TaskManager refuses the job's jar the new JobManager uploads (FLINK-32212): the job restarts
// forever. The plan reads it as stuck, says why (Flink's failure) and what the restart will
// restore, and offers restart_task_managers; the apply replaces the TaskManager and the job
// runs again from exactly what the plan named, with no savepoint and the same JobManager.
func TestE2E_StuckJobWithoutHA_RestartTaskManagersRunsItAgain(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	cfg := acctest.ProviderConfig(t) + haVersion(t, ns) + application("counter", ns, "v1", "running", "high_availability = false")
	suspended := acctest.ProviderConfig(t) + haVersion(t, ns) + application("counter", ns, "v1", "suspended", "high_availability = false")
	began := time.Now()
	defer timed(t, "whole test", began)
	var savepoint, jobID string
	var tm, jm string
	var applied time.Time    // when the restart_task_managers apply began
	var killedRunsLast int64 // the newest checkpoint id of the run the JobManager kill ends
	killJobManagerUntilStuck := func(t *testing.T, ns, jobID string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if _, err := acctest.WaitCheckpointed(ctx, nil, restBase(ns), jobID, 1); err != nil {
			t.Fatal(err)
		}
		fc := flink.New("counter", restBase(ns), nil)
		before, err := fc.Checkpoints(ctx, jobID)
		if err != nil || before.Latest.Completed == nil {
			t.Fatalf("checkpoints before the kill: %+v, %v", before.Latest, err)
		}
		killedRunsLast = before.Latest.Completed.ID + 1 // one may have been in flight
		tm = string(runningPod(t, ns, kube.ComponentTaskManager).UID)
		start := time.Now()
		jm = string(acctest.KillJobManager(t, ns, "counter").UID)
		var restarts int
		err = wait.Until(ctx, func(ctx context.Context) (bool, error) {
			ex, err := fc.JobExceptions(ctx, jobID)
			restarts = len(ex.History.Entries)
			return err == nil && restarts >= 3, nil
		}, flink.IsRetryable)
		if err != nil {
			t.Fatalf("the job did not keep restarting after its JobManager was killed (%d restarts seen): %v", restarts, err)
		}
		timed(t, "JobManager killed, TaskManager alive: job restarting", start)
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{Config: suspended},
			{
				// Resumed from the suspend's savepoint: that is what a restarted JobManager
				// without HA starts the job from again.
				Config: cfg,
				Check: func(s *terraform.State) error {
					savepoint = s.RootModule().Resources[app].Primary.Attributes["last_snapshot_path"]
					jobID = jobOf(t, ns)
					return nil
				},
			},
			{
				PreConfig: func() {
					killJobManagerUntilStuck(t, ns, jobID)
					defer func() { applied = time.Now() }()
					w := strings.Join(acctest.PlanWarnings(t, providertest.Factories["flink"], cfg), "\n")
					t.Logf("plan of the stuck job:\n%s", w)
					for _, want := range []string{"is stuck", "Flink's last failure", "replace its TaskManager pods", savepoint, "without high availability"} {
						if !strings.Contains(w, want) {
							t.Errorf("the plan of the stuck job does not say %q:\n%s", want, w)
						}
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("restart_task_managers")),
				}},
				Check: func(*terraform.State) error {
					if now := runningPod(t, ns, kube.ComponentTaskManager); string(now.UID) == tm {
						return fmt.Errorf("the TaskManager %s was not replaced", now.Name)
					}
					if now := runningPod(t, ns, kube.ComponentJobManager); string(now.UID) != jm {
						return fmt.Errorf("the JobManager was replaced (now %s); restart_task_managers must keep it", now.Name)
					}
					if got := jobOf(t, ns); got != jobID {
						return fmt.Errorf("the application runs job %s, want the same job %s", got, jobID)
					}
					stats, err := flink.New("counter", restBase(ns), nil).Checkpoints(context.Background(), jobID)
					if err != nil || stats.Latest.Restored == nil {
						return fmt.Errorf("checkpoints of job %s: %+v, %v", jobID, stats.Latest, err)
					}
					if restored := *stats.Latest.Restored; !samePath(restored.ExternalPath, savepoint) && !takenSince(stats, restored, applied) {
						return fmt.Errorf("the job restored %+v; the plan said %s (or a checkpoint it took after this apply began)", restored, savepoint)
					}
					counter(t, ns, "counter", 0)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					return runsPastCheckpoint(ctx, flink.New("counter", restBase(ns), nil), jobID, killedRunsLast)
				},
			},
		},
	})
}

// takenSince reports whether restored is a checkpoint the job completed after since. Once it
// runs again, a job rewound without HA numbers its checkpoints from its savepoint's again;
// one that collides with a retained checkpoint of the killed run fails it over, and it then
// restores its own newest checkpoint: newer state than the planned savepoint, not older.
func takenSince(stats flink.CheckpointingStatistics, restored flink.RestoredCheckpoint, since time.Time) bool {
	for _, c := range stats.History {
		if c.ID == restored.ID && !c.IsSavepoint && c.Status == "COMPLETED" && c.TriggerTimestamp >= since.UnixMilli() {
			return true
		}
	}
	return false
}
