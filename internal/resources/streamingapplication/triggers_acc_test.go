package streamingapplication_test

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

// A changed trigger redeploys the running job as a new version would (here upgrade_mode
// stateless): a new job runs the same version; the same triggers again plan nothing.
func TestAccStreamingApplication_triggersRedeploy(t *testing.T) {
	ns := acctest.Namespace(t)
	v1 := map[string]string{"v1": "flink:1.20.1"}
	const stateless = `upgrade_mode = "stateless"
  on_destroy   = "cancel"`
	var firstJob string
	jobID := func(s *terraform.State) string { return s.RootModule().Resources[app].Primary.Attributes["job_id"] }

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: config(t, ns, v1, "v1", "running", stateless, `triggers = { run = "1" }`),
				Check: func(s *terraform.State) error {
					firstJob = jobID(s)
					return nil
				},
			},
			{
				Config: config(t, ns, v1, "v1", "running", stateless, `triggers = { run = "2" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("stateless_redeploy")),
				}},
				Check: func(s *terraform.State) error {
					if jobID(s) == firstJob {
						return fmt.Errorf("the trigger ran no new job (still %s)", firstJob)
					}
					return nil
				},
			},
			{
				Config:   config(t, ns, v1, "v1", "running", stateless, `triggers = { run = "2" }`),
				PlanOnly: true,
			},
		},
	})
}
