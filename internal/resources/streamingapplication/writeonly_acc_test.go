package streamingapplication_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestWriteOnly_streamingApplicationSecrets needs a CLI that keeps write-only arguments out of
// state (Terraform or OpenTofu >= 1.11: `make testacc-tofu-writeonly` runs it with OpenTofu
// 1.11). The values reach the Secret and the JobManager, yet no plan or state holds them,
// not even in a sensitive part; a new value is applied only when its *_wo_version changes;
// switching to the sensitive (stored) argument is a change too.
func TestWriteOnly_streamingApplicationSecrets(t *testing.T) {
	logPath := acctest.CaptureTerraformLogs(t)
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	emulator := acctest.Emulator(t)
	values := acctest.SecretValues{
		"kafka password": "kafka-wo-5e1b-value",
		"db 1":           "db-wo-1-a83f-value", "token 1": "tok-wo-1-c02d-value",
		"db 2": "db-wo-2-7b91-value", "token 3": "tok-3-stored-e4a6-value",
	}
	acctest.CreateSecret(t, ns, "kafka-credentials", map[string]string{"kafka.password": values["kafka password"]})
	wo := func(db string, dbVersion int, env string) string {
		return acctest.ProviderConfig(t) + secretVersions(ns, "v1") + appHCL(ns, versionRef("v1"), "running", fmt.Sprintf(`
  secret_flink_configuration_wo         = { "fixture.db.password" = %q }
  secret_flink_configuration_wo_version = %d
  %s`, db, dbVersion, env))
	}
	envWO := fmt.Sprintf(`secret_env_wo = { API_TOKEN = %q }
  secret_env_wo_version = 1`, values["token 1"])
	envStored := fmt.Sprintf(`secret_env = { API_TOKEN = %q }`, values["token 3"])
	// Nothing anywhere in plan or state, sensitive parts included.
	nowhere := []statecheck.StateCheck{
		acctest.ExpectStateClean(values, true),
		acctest.ExpectNamespaceClean(k8s, ns, values),
		statecheck.ExpectKnownValue(app, tfjsonpath.New("secret_flink_configuration_wo"), knownvalue.Null()),
	}
	planned := func(op string) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact(op)),
			acctest.ExpectPlanClean(values, true),
		}}
	}
	var job string
	newJob := func(s *terraform.State) error {
		next := s.RootModule().Resources[app].Primary.Attributes["job_id"]
		if next == job {
			return fmt.Errorf("job %s kept; the change must redeploy", job)
		}
		job = next
		return nil
	}
	kafka := values["kafka password"]

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.RequireAbove(tfversion.Version1_11_0)},
		CheckDestroy: func(*terraform.State) error {
			return expectSecrets(emulator, k8s, ns, "", "", "", "")
		},
		Steps: []resource.TestStep{
			{
				Config:            wo(values["db 1"], 1, envWO),
				ConfigPlanChecks:  planned("deploy"),
				ConfigStateChecks: append(nowhere, statecheck.ExpectKnownValue(app, tfjsonpath.New("secret_flink_configuration_wo_version"), knownvalue.Int64Exact(1))),
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-1", values["db 1"], values["token 1"], kafka)
				}),
			},
			{
				Config:           wo(values["db 1"], 1, envWO),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// A new value without a new version is not seen: nothing changes.
				Config:           wo(values["db 2"], 1, envWO),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-1", values["db 1"], values["token 1"], kafka)
				},
			},
			{
				// The new version rolls it out, with a savepoint.
				Config:            wo(values["db 2"], 2, envWO),
				ConfigPlanChecks:  planned("savepoint_redeploy"),
				ConfigStateChecks: nowhere,
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-2", values["db 2"], values["token 1"], kafka)
				}),
			},
			{
				// From write-only to stored: a change as well.
				Config:            wo(values["db 2"], 2, envStored),
				ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy"))}},
				ConfigStateChecks: []statecheck.StateCheck{acctest.ExpectStateClean(values, false), acctest.ExpectNamespaceClean(k8s, ns, values)},
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-3", values["db 2"], values["token 3"], kafka)
				}),
			},
		},
	})
	if t.Failed() {
		return
	}
	if err := acctest.ScanLog(logPath, values); err != nil {
		t.Error(err)
	}
}
