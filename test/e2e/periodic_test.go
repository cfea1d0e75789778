package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// TestE2E_PeriodicRunsCarryStateAcrossSuspendResumeCycles is the periodic (bursty) pattern of
// docs/guides/periodic-jobs.md: the pipeline that runs terraform on a schedule flips one
// variable, so the application runs, is suspended with a savepoint (no pods: no compute paid),
// and resumes from it. Three cycles on real Flink: each suspend leaves no pod, each resume
// restores at least what was counted before the suspend.
func TestE2E_PeriodicRunsCarryStateAcrossSuspendResumeCycles(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	cfg := acctest.ProviderConfig(t) + versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass}) + fmt.Sprintf(`
variable "running" {
  type = bool
}

resource "flink_streaming_application" "counter" {
  name       = "counter"
  namespace  = %q
  version_id = flink_application_version.v1.id
  state      = var.running ? "running" : "suspended"
  rollback   = { readiness_timeout = "90s" }
}
`, ns)
	var before acctest.FixtureCount
	run := func(running bool) config.Variables { return config.Variables{"running": config.BoolVariable(running)} }
	planned := func(op string) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact(op)),
		}}
	}
	steps := []resource.TestStep{{
		Config: cfg, ConfigVariables: run(true),
		Check: func(*terraform.State) error {
			before = counter(t, ns, "counter", 0)
			return nil
		},
	}}
	for cycle := 1; cycle <= 3; cycle++ {
		steps = append(steps, resource.TestStep{
			Config: cfg, ConfigVariables: run(false), ConfigPlanChecks: planned("suspend"),
			Check: func(*terraform.State) error { return noPods(t, ns, "counter") },
		}, resource.TestStep{
			Config: cfg, ConfigVariables: run(true), ConfigPlanChecks: planned("resume"),
			Check: func(*terraform.State) error {
				after := counter(t, ns, "counter", 0)
				if after.Restored < before.Counted {
					return fmt.Errorf("cycle %d: the resumed job restored %d events, fewer than the %d counted before the suspend", cycle, after.Restored, before.Counted)
				}
				t.Logf("cycle %d: %d counted before the suspend, %d restored", cycle, before.Counted, after.Restored)
				before = counter(t, ns, "counter", after.Counted) // it counts on
				return nil
			},
		})
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: providertest.Factories, Steps: steps})
}

// noPods waits until no JobManager or TaskManager pod of app is left.
func noPods(t *testing.T, ns, app string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	left := 0
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		pods, err := acctest.Kube(t).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.PodSelector(app)})
		if err != nil {
			return false, err
		}
		left = len(pods.Items)
		return left == 0, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("%d pods of %s left after the suspend: %w", left, app, err)
	}
	return nil
}
