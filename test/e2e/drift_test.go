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
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// TestE2E_DriftRestoresTheLatestCheckpoint: the job is cancelled outside Terraform (the Flink
// UI) after it checkpointed past its last savepoint. The next plan says deploy, from the
// latest checkpoint; the apply restores it, and the counter continues from at least the
// count that checkpoint holds, not from the older upgrade savepoint.
func TestE2E_DriftRestoresTheLatestCheckpoint(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	cfg := func(version string) string {
		return acctest.ProviderConfig(t) + versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass, "v2": acctest.FixtureJobPlusClass}) +
			application("counter", ns, version, "running", "")
	}
	var atUpgrade, beforeCancel acctest.FixtureCount

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: cfg("v1"), Check: func(*terraform.State) error { counter(t, ns, "counter", 0); return nil }},
			{
				Config: cfg("v2"),
				Check: func(*terraform.State) error {
					atUpgrade = counter(t, ns, "counter", 0)
					return nil
				},
			},
			{
				PreConfig: func() {
					job := currentJob(t, ns, "counter")
					client := flink.New(ns+"/counter", "http://"+kube.RestHost("counter", ns)+":8081", nil)
					beforeCancel = counter(t, ns, "counter", atUpgrade.Counted)
					waitCheckpoints(t, client, job, 2) // taken after beforeCancel was read
					if err := client.CancelJob(context.Background(), job); err != nil {
						t.Fatalf("cancelling job %s as the Flink UI would: %v", job, err)
					}
				},
				Config: cfg("v2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				Check: func(s *terraform.State) error {
					path := s.RootModule().Resources[app].Primary.Attributes["last_snapshot_path"]
					if !strings.Contains(path, "/chk-") {
						return fmt.Errorf("the redeploy restored %q, want the cancelled job's latest checkpoint", path)
					}
					after := counter(t, ns, "counter", 0)
					if after.Restored < beforeCancel.Counted {
						return fmt.Errorf("restored %d events, but the job had counted %d before its last checkpoints: state was lost "+
							"(the upgrade savepoint held %d)", after.Restored, beforeCancel.Counted, atUpgrade.Counted)
					}
					return snapshotStored(t, path)
				},
			},
		},
	})
}

// currentJob is the job id the application record names.
func currentJob(t *testing.T, ns, name string) string {
	t.Helper()
	record, _, err := records.New(&kube.Client{Kube: acctest.Kube(t)}).GetAppRecord(context.Background(), ns, name)
	if err != nil {
		t.Fatalf("application record: %v", err)
	}
	return record.JobID
}

// waitCheckpoints waits until n more checkpoints of job complete.
func waitCheckpoints(t *testing.T, client *flink.Client, job string, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := int64(-1)
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		st, err := client.Checkpoints(ctx, job)
		if err != nil {
			return false, nil
		}
		if first < 0 {
			first = st.Counts.Completed
		}
		return st.Counts.Completed >= first+n, nil
	}, flink.IsRetryable)
	if err != nil {
		t.Fatalf("job %s did not complete %d more checkpoints: %v", job, n, err)
	}
}
