package streamingapplication_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// TestAccStreamingApplication_savepointUpgradeSuspendResumeDestroy walks the stateful path:
// upgrade v1 -> v2 through a savepoint, suspend, resume, destroy keeping a final savepoint.
// At each step the new job must have restored from exactly the snapshot the step recorded,
// and the application's Events tell that history in order.
func TestAccStreamingApplication_savepointUpgradeSuspendResumeDestroy(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	emulator := acctest.Emulator(t)
	both := map[string]string{"v1": "flink:1.20.1", "v2": "flink:1.20.2"}
	host := kube.RestHost("orders", ns)
	var upgradeSnapshot, suspendSnapshot string

	restoredFrom := func(want *string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			attrs := s.RootModule().Resources[app].Primary.Attributes
			cluster := emulator.Cluster(host)
			if cluster == nil {
				return fmt.Errorf("no JobManager running")
			}
			if cluster.JobID() != attrs["job_id"] {
				return fmt.Errorf("JobManager runs job %s, state says %s", cluster.JobID(), attrs["job_id"])
			}
			if got := cluster.RestoredFrom(); got != *want || got == "" {
				return fmt.Errorf("job restored from %q, want the recorded snapshot %q", got, *want)
			}
			return nil
		}
	}
	remember := func(into *string, origin string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			attrs := s.RootModule().Resources[app].Primary.Attributes
			*into = attrs["last_snapshot_path"]
			id := attrs["last_snapshot_id"]
			name := strings.TrimPrefix(id, ns+"/")
			snap, err := records.New(&kube.Client{Kube: k8s}).GetSnapshotRecord(context.Background(), ns, name)
			if err != nil {
				return fmt.Errorf("snapshot record %s: %w", id, err)
			}
			if snap.Origin != origin || snap.Path != *into {
				return fmt.Errorf("snapshot record %s has origin %q path %q, want %q %q", id, snap.Origin, snap.Path, origin, *into)
			}
			return metadataExists(*into)
		}
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: config(t, ns, both, "v1", "running")},
			{
				Config: config(t, ns, both, "v2", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
					plancheck.ExpectUnknownValue(app, tfjsonpath.New("last_snapshot_path")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed_version_id"), knownvalue.StringExact(ns+"/orders/v2")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
				},
				Check: resource.ComposeTestCheckFunc(remember(&upgradeSnapshot, records.OriginUpgrade), restoredFrom(&upgradeSnapshot)),
			},
			{
				Config: config(t, ns, both, "v2", "suspended"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("suspend")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("STOPPED")),
				},
				Check: remember(&suspendSnapshot, records.OriginSuspend),
			},
			{
				Config: config(t, ns, both, "v2", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("resume")),
				}},
				Check: restoredFrom(&suspendSnapshot),
			},
			{
				// Destroy the application only: the final savepoint is recorded and its files stay.
				Config:  config(t, ns, both, "v2", "running") + "\n",
				Destroy: true,
				Check: func(*terraform.State) error {
					snaps, err := records.New(&kube.Client{Kube: k8s}).ListSnapshotRecords(context.Background(), ns,
						records.SnapshotFilter{Application: "orders", Origin: records.OriginDestroy})
					if err != nil {
						return err
					}
					if len(snaps) != 1 {
						return fmt.Errorf("want one final snapshot, got %d", len(snaps))
					}
					if err := metadataExists(snaps[0].Path); err != nil {
						return err
					}
					// kubectl get events tells the whole history, each operation by its reason.
					return acctest.EventsInOrder(t, ns, "orders", "Normal/Deploying", "Normal/Deployed",
						"Normal/SnapshotTaken", "Normal/Deploying", "Normal/Upgraded",
						"Normal/SnapshotTaken", "Normal/Suspended",
						"Normal/Deploying", "Normal/Resumed",
						"Normal/SnapshotTaken", "Normal/Destroyed")
				},
			},
		},
	})
}

// metadataExists checks a file: snapshot path has its _metadata on disk.
func metadataExists(path string) error {
	local := "/" + strings.TrimLeft(strings.TrimPrefix(path, "file:"), "/")
	if _, err := os.Stat(filepath.Join(local, "_metadata")); err != nil {
		return fmt.Errorf("snapshot %s has no _metadata: %w", path, err)
	}
	return nil
}
