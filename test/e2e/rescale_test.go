package e2e

import (
	"context"
	"fmt"
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

// adaptiveScheduler runs the job under Flink's adaptive scheduler, rescaling as soon as the
// resources are there (the cooldown keys of Flink 1.18 and of 1.19 and later).
const adaptiveScheduler = `    "jobmanager.scheduler"                                               = "adaptive"
    "jobmanager.adaptive-scheduler.scaling-interval.min"                 = "1s"
    "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling"   = "1s"
`

// TestE2E_RescaleInPlace rescales the counter 1 → 2 → 1 through the adaptive scheduler: the
// plan says rescale, the job keeps its id, runs with the new parallelism on as many
// TaskManagers, its count continues (restored from its own checkpoint), and no savepoint is
// taken.
func TestE2E_RescaleInPlace(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	all := fixtureVersion(t, ns, "p1", acctest.FixtureJobClass, 1, adaptiveScheduler) +
		fixtureVersion(t, ns, "p2", acctest.FixtureJobClass, 2, adaptiveScheduler) +
		fixtureVersion(t, ns, "p1again", acctest.FixtureJobClass, 1, adaptiveScheduler)
	cfg := func(version string) string {
		return acctest.ProviderConfig(t) + all + application("counter", ns, version, "running", "")
	}
	var jobID string
	var before acctest.FixtureCount
	rescaled := func(p int) func(*terraform.State) error {
		return func(s *terraform.State) error {
			if id := s.RootModule().Resources[app].Primary.Attributes["job_id"]; id != jobID {
				return fmt.Errorf("job %s runs, not %s: the rescale replaced the job", id, jobID)
			}
			if err := runsWithParallelism(ns, jobID, p); err != nil {
				return err
			}
			after := counter(t, ns, "counter", before.Counted)
			if after.Restored == 0 || after.Restored > after.Counted {
				return fmt.Errorf("after the rescale the count is %d, restored %d: it did not continue from a checkpoint", after.Counted, after.Restored)
			}
			before = after
			return noSnapshotTaken(t, ns)
		}
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg("p1"),
				Check: func(s *terraform.State) error {
					jobID = s.RootModule().Resources[app].Primary.Attributes["job_id"]
					before = counter(t, ns, "counter", 0)
					return nil
				},
			},
			{
				Config: cfg("p2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("rescale")),
				}},
				Check: rescaled(2),
			},
			{
				Config: cfg("p1again"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("rescale")),
				}},
				Check: rescaled(1),
			},
		},
	})
}

// runsWithParallelism checks that every vertex of the job runs with parallelism p.
func runsWithParallelism(ns, jobID string, p int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job, err := flink.New(ns+"/counter", "http://"+kube.RestHost("counter", ns)+":8081", nil).Job(ctx, jobID)
	if err != nil {
		return err
	}
	for _, v := range job.Vertices {
		if v.Parallelism != p || v.Status != flink.TaskRunning {
			return fmt.Errorf("vertex %s: parallelism %d, %s; want %d, RUNNING", v.Name, v.Parallelism, v.Status, p)
		}
	}
	return nil
}

// noSnapshotTaken checks that the application has no snapshot on record.
func noSnapshotTaken(t *testing.T, ns string) error {
	snaps, err := records.New(&kube.Client{Kube: acctest.Kube(t)}).ListSnapshotRecords(context.Background(), ns,
		records.SnapshotFilter{Application: "counter"})
	if err != nil {
		return err
	}
	if len(snaps) != 0 {
		return fmt.Errorf("%d snapshots were recorded (the first %s): the rescale took a savepoint", len(snaps), snaps[0].Path)
	}
	return nil
}
