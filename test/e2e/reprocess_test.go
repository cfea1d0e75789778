package e2e

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestE2E_ReprocessFromAnOlderSnapshot takes a flink_snapshot of the running counter, lets it
// count on, then names that snapshot in restore: the plan shows reprocess, and the new job's
// counter restarts from the snapshot's count (lower than the count reached), after the
// running job was stopped with a savepoint that is kept. The same configuration then plans
// nothing more (the test framework's plan after apply is empty).
func TestE2E_ReprocessFromAnOlderSnapshot(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	cfg := func(extra, restore string) string {
		return acctest.ProviderConfig(t) + versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass}) + extra +
			application("counter", ns, "v1", "running", restore)
	}
	// Names, not references: the application's restore refers to the snapshot.
	snapshot := fmt.Sprintf(`
resource "flink_snapshot" "early" {
  application = "counter"
  namespace   = %q
}
`, ns)
	var first, reached acctest.FixtureCount

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg("", ""),
				Check: func(*terraform.State) error {
					first = counter(t, ns, "counter", 0)
					return nil
				},
			},
			{
				Config: cfg(snapshot, ""),
				Check: func(s *terraform.State) error {
					if err := snapshotStored(t, s.RootModule().Resources["flink_snapshot.early"].Primary.Attributes["path"]); err != nil {
						return err
					}
					// Flink's metrics lag the job by about a second: count on well past the
					// snapshot (the fixture counts a few dozen events a second).
					atSnapshot := counter(t, ns, "counter", first.Counted)
					reached = counter(t, ns, "counter", atSnapshot.Counted+300)
					return nil
				},
			},
			{
				Config: cfg(snapshot, `restore = { strategy = "snapshot", snapshot_id = flink_snapshot.early.id }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("reprocess")),
				}},
				Check: func(s *terraform.State) error {
					again := counter(t, ns, "counter", 0)
					if again.Restored < first.Counted {
						return fmt.Errorf("the reprocessed job restored %d events; the snapshot was taken after %d were counted",
							again.Restored, first.Counted)
					}
					if again.Restored >= reached.Counted {
						return fmt.Errorf("the reprocessed job restored %d events, not less than the %d reached: it did not go back", again.Restored, reached.Counted)
					}
					attrs := s.RootModule().Resources[app].Primary.Attributes
					if attrs["last_snapshot_path"] == s.RootModule().Resources["flink_snapshot.early"].Primary.Attributes["path"] {
						return fmt.Errorf("last_snapshot_path is the chosen snapshot: the running job's savepoint was not recorded")
					}
					return snapshotStored(t, attrs["last_snapshot_path"]) // the state reached is kept
				},
			},
		},
	})
}
