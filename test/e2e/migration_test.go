package e2e

import (
	"context"
	"fmt"
	"strings"
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
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// TestE2E_MigrationToASecondClusterContinuesTheCount moves the fixture job to a second
// cluster (its own kube-apiserver, real Flink processes and storage) in one apply, as
// docs/guides/migration-and-dr.md shows: suspended with a savepoint on the first, the
// savepoint copied into the second's storage and verified, recorded there, and the job
// started there from it. Its counter continues from what the first cluster counted.
func TestE2E_MigrationToASecondClusterContinuesTheCount(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	second := acctest.SecondStack(t)
	second.CreateNamespace(t, ns)
	storage := second.StorageURLOf(t)
	first := versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass})
	there := strings.Replace(first, `resource "flink_application_version" "v1" {`,
		"resource \"flink_application_version\" \"second_v1\" {\n  provider = "+providertest.SecondCluster, 1)
	there = strings.ReplaceAll(there, acctest.StateDir(t, "checkpoints/"+ns), storage+"/checkpoints/"+ns)
	migration := second.ProviderConfigNamed(t, providertest.SecondCluster) + there + fmt.Sprintf(`
resource "flink_snapshot" "to_second" {
  application        = "counter"
  namespace          = %[1]q
  source_snapshot_id = flink_streaming_application.counter.last_snapshot_id
  destination_url    = %[2]q
}

resource "flink_snapshot" "in_second" {
  provider    = %[3]s
  application = "counter"
  namespace   = %[1]q
  path        = flink_snapshot.to_second.path
}

resource "flink_streaming_application" "counter_second" {
  provider   = %[3]s
  name       = "counter"
  namespace  = %[1]q
  version_id = flink_application_version.second_v1.id
  rollback   = { readiness_timeout = "90s" }
  restore = {
    strategy    = "snapshot"
    snapshot_id = flink_snapshot.in_second.id
  }
}
`, ns, storage, providertest.SecondCluster)
	cfg := func(state, extra string) string {
		return acctest.ProviderConfig(t) + first + application("counter", ns, "v1", state, "") + extra
	}
	var before acctest.FixtureCount

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.TwoClusterFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg("running", ""),
				Check: func(*terraform.State) error {
					before = counter(t, ns, "counter", counter(t, ns, "counter", 0).Counted)
					return nil
				},
			},
			{
				Config: cfg("suspended", migration),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("suspend")),
					plancheck.ExpectKnownValue("flink_streaming_application.counter_second", tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				Check: func(*terraform.State) error {
					after, err := secondCount(second, ns)
					if err != nil {
						return err
					}
					if after.Restored < before.Counted {
						return fmt.Errorf("the second cluster's job restored %d events, fewer than the %d the first counted before the move", after.Restored, before.Counted)
					}
					t.Logf("the first cluster counted %d+ events; the second restored %d and counts on (%d)", before.Counted, after.Restored, after.Counted)
					return nil
				},
			},
		},
	})
}

// secondCount reads the fixture's count in the second cluster, once its job counts on from
// what it restored.
func secondCount(second *acctest.Stack, ns string) (acctest.FixtureCount, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	record, _, err := records.New(&kube.Client{Kube: second.Kube()}).GetAppRecord(ctx, ns, "counter")
	if err != nil {
		return acctest.FixtureCount{}, err
	}
	var c acctest.FixtureCount
	err = wait.Until(ctx, func(ctx context.Context) (bool, error) {
		c, err = acctest.ReadFixtureCount(ctx, second.HTTPClient(), "http://"+kube.RestHost("counter", ns)+":8081", record.JobID)
		return err == nil && c.Counted > c.Restored, nil
	}, flink.IsRetryable)
	if err != nil {
		return c, fmt.Errorf("the counter in the second cluster (job %s): %w (last %+v)", record.JobID, err, c)
	}
	return c, nil
}
