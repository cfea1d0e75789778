package streamingapplication_test

import (
	"fmt"
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
)

// TestAccStreamingApplication_restoreCheckRefusesDroppedStateBeforeTheJobStops walks the
// state check through Terraform. The emulated jobs keep no checkpoint the provider can read,
// so the check falls back to what the running version declares. A version created in the same apply is checked at apply, before the running job
// stops; one that exists is checked at plan time; allow_non_restored_state lets it through.
// (The check against real snapshots of real Flink is in test/e2e.)
func TestAccStreamingApplication_restoreCheckRefusesDroppedStateBeforeTheJobStops(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	host := kube.RestHost("orders", ns)
	declaring := func(label, image string, uids ...string) string {
		return acctest.OrdersVersionHCL(label, ns, "orders", label, image,
			fmt.Sprintf("  stateful_operator_uids = [\"%s\"]\n", strings.Join(uids, `", "`)))
	}
	v1 := acctest.OrdersVersionHCL("v1", ns, "orders", "v1", "flink:1.20.1", "")
	v2 := declaring("v2", "flink:1.20.2", "counter", "tracker")
	v3 := declaring("v3", "flink:1.20.3", "counter")
	cfg := func(versions, current string, extra ...string) string {
		return acctest.ProviderConfig(t) + versions + appHCL(ns, versionRef(current), "running", extra...)
	}
	status := tfjsonpath.New("restore_check").AtMapKey("status")
	var v2Job string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg(v1, "v1"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("restore_check"), knownvalue.Null()),
				},
			},
			{
				// v2 is created in this apply: checked then. v1 declares nothing and has no
				// readable checkpoint, so what the state holds is unknown.
				Config: cfg(v1+v2, "v2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(app, tfjsonpath.New("restore_check")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, status, knownvalue.StringExact("unknown")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("reason"),
						knownvalue.StringRegexp(words("has no checkpoint the provider can read, and version v1 declares no stateful operators"))),
				},
				Check: func(s *terraform.State) error {
					v2Job = s.RootModule().Resources[app].Primary.Attributes["job_id"]
					return nil
				},
			},
			{
				// v3 has no "tracker", which v2 declares: refused in the apply (by the plan
				// Terraform makes again once v3 exists), before v2 stops.
				Config:      cfg(v1+v2+v3, "v3"),
				ExpectError: words("cannot restore the state of tracker"),
			},
			{
				// v2 still runs: the refusal stopped nothing.
				Config:           cfg(v1+v2+v3, "v2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					if c := emulator.Cluster(host); c == nil || c.JobID() != v2Job {
						return fmt.Errorf("the refused apply touched v2's job %s", v2Job)
					}
					return nil
				},
			},
			{
				// v3 exists now: the plan itself refuses.
				Config:      cfg(v1+v2+v3, "v3"),
				PlanOnly:    true,
				ExpectError: words("cannot restore the state of tracker"),
			},
			{
				Config: cfg(v1+v2+v3, "v3", `restore = { allow_non_restored_state = true }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
					plancheck.ExpectKnownValue(app, status, knownvalue.StringExact("drops_state")),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("restore_check").AtMapKey("dropped_operators"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("tracker")})),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed_version_id"), knownvalue.StringExact(ns+"/orders/v3")),
				},
			},
		},
	})
}
