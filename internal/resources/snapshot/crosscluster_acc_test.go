package snapshot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestAccSnapshot_crossClusterMigration moves an application to a second cluster (two
// kube-apiservers, two snapshot storages, two provider configurations: the second one named
// flinksecond rather than an alias, see providertest.TwoClusterFactories) in one apply, as
// docs/guides/migration-and-dr.md shows: the first cluster's job is suspended with a
// savepoint, the savepoint is copied into the second cluster's storage and verified there,
// recorded in the second cluster, and the application starts there from it. The plan says
// so before anything happens: suspend on one side, deploy on the other.
func TestAccSnapshot_crossClusterMigration(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	dr := acctest.SecondStack(t)
	dr.CreateNamespace(t, ns)
	drStorage := dr.StorageURLOf(t)
	migration := dr.ProviderConfigNamed(t, providertest.SecondCluster) + fmt.Sprintf(`
# The savepoint the suspend takes, copied into the second cluster's storage (verified there).
resource "flink_snapshot" "to_dr" {
  application        = "orders"
  namespace          = %[1]q
  source_snapshot_id = flink_streaming_application.orders.last_snapshot_id
  destination_url    = %[2]q
}

# The copy, recorded in the second cluster.
resource "flink_snapshot" "in_dr" {
  provider    = flinksecond
  application = "orders"
  namespace   = %[1]q
  path        = flink_snapshot.to_dr.path
}
%[3]s
resource "flink_streaming_application" "orders_dr" {
  provider   = flinksecond
  name       = "orders"
  namespace  = %[1]q
  version_id = flink_application_version.orders_dr_v1.id
  restore = {
    strategy    = "snapshot"
    snapshot_id = flink_snapshot.in_dr.id
  }
}
`, ns, drStorage, acctest.OrdersVersionHCL("orders_dr_v1", ns, "orders", "v1", "flink:1.20.1", "  provider = flinksecond\n"))
	var suspended string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.TwoClusterFactories,
		Steps: []resource.TestStep{
			{Config: ordersConfig(t, ns, "v1", "running")},
			{
				Config: ordersConfig(t, ns, "v1", "suspended", migration),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(application, tfjsonpath.New("planned_operation"), knownvalue.StringExact("suspend")),
					plancheck.ExpectKnownValue("flink_streaming_application.orders_dr", tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				Check: func(s *terraform.State) error {
					first, err := attrsOf(s, application)
					if err != nil {
						return err
					}
					copied, err := attrsOf(s, "flink_snapshot.to_dr")
					if err != nil {
						return err
					}
					recorded, err := attrsOf(s, "flink_snapshot.in_dr")
					if err != nil {
						return err
					}
					suspended = first["last_snapshot_path"]
					if copied["source_snapshot_id"] != first["last_snapshot_id"] || recorded["path"] != copied["path"] {
						return fmt.Errorf("copy %v of the suspend's snapshot %s, recorded as %v", copied, first["last_snapshot_id"], recorded)
					}
					if err := sameFiles(suspended, copied["path"]); err != nil {
						return err
					}
					if c := emulator.Cluster(kube.RestHost("orders", ns)); c != nil && c.JobState() == "RUNNING" {
						return fmt.Errorf("the first cluster still runs job %s", c.JobID())
					}
					c := dr.Emulator().Cluster(kube.RestHost("orders", ns))
					if c == nil || c.JobState() != "RUNNING" {
						return fmt.Errorf("no job runs for orders in the second cluster")
					}
					if c.RestoredFrom() != copied["path"] {
						return fmt.Errorf("the second cluster's job restored %q, want the copy %s", c.RestoredFrom(), copied["path"])
					}
					return acctest.HasEvent(t, ns, "orders", "Normal/SnapshotCopied", copied["path"])
				},
			},
			{
				// Nothing left to do on either side.
				Config:           ordersConfig(t, ns, "v1", "suspended", migration),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// sameFiles checks that the savepoint directories a and b hold the same files with the same
// sizes.
func sameFiles(a, b string) error {
	list := func(p string) (map[string]int64, error) {
		out := map[string]int64{}
		root := localDir(p)
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				rel, _ := filepath.Rel(root, path)
				out[rel] = info.Size()
			}
			return err
		})
		return out, err
	}
	fa, err := list(a)
	if err != nil {
		return err
	}
	fb, err := list(b)
	if err != nil {
		return err
	}
	if len(fa) == 0 || fmt.Sprint(fa) != fmt.Sprint(fb) {
		return fmt.Errorf("the copy %s holds %v, the source %s %v", b, fb, a, fa)
	}
	return nil
}
