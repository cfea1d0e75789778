package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestE2E_BoundedJobFinishesAndPlansClean runs the fixture with a bounded generator (300
// events) as a bounded version: apply waits until Flink reports the job FINISHED, scales the
// cluster to zero, and the next plan is empty; changing triggers runs it again.
func TestE2E_BoundedJobFinishesAndPlansClean(t *testing.T) {
	requireRealFlink(t)
	ns := acctest.Namespace(t)
	version := strings.Replace(fixtureVersion(t, ns, "b1", acctest.FixtureJobClass, 1, ""), "  job_manager",
		"  bounded = true\n  args    = [\"--events\", \"300\", \"--rate\", \"100\"]\n  job_manager", 1)
	cfg := func(extra string) string {
		return acctest.ProviderConfig(t) + version + application("counter", ns, "b1", "running", extra)
	}
	var firstJob string
	finished := func(s *terraform.State) error {
		attrs := s.RootModule().Resources[app].Primary.Attributes
		if attrs["status"] != "FINISHED" || attrs["state"] != "running" {
			return fmt.Errorf("status %q, state %q; want FINISHED, running", attrs["status"], attrs["state"])
		}
		for _, name := range []string{kube.JobManagerDeploymentName("counter"), kube.TaskManagerDeploymentName("counter")} {
			d, err := acctest.Kube(t).AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != 0 {
				return fmt.Errorf("%s keeps %d replicas after the job finished", name, *d.Spec.Replicas)
			}
		}
		return nil
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				Check: func(s *terraform.State) error {
					firstJob = s.RootModule().Resources[app].Primary.Attributes["job_id"]
					return finished(s)
				},
			},
			{
				// The finished job is what the configuration asks for: nothing to do.
				Config:   cfg(""),
				PlanOnly: true,
			},
			{
				Config: cfg(`triggers = { run = "2" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				Check: func(s *terraform.State) error {
					if job := s.RootModule().Resources[app].Primary.Attributes["job_id"]; job == firstJob {
						return fmt.Errorf("changing triggers did not run a new job (still %s)", job)
					}
					return finished(s)
				},
			},
		},
	})
}
