package streamingapplication_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// secretVersions are versions of orders that read KAFKA_PASSWORD from the existing Secret
// kafka-credentials and merge its keys into their Flink configuration.
func secretVersions(ns string, labels ...string) string {
	var b strings.Builder
	for _, label := range labels {
		fmt.Fprintf(&b, `
resource "flink_application_version" %[1]q {
  application   = "orders"
  namespace     = %[2]q
  version       = %[1]q
  image         = "flink:1.20.%[3]s"
  jar_uri       = "local:///opt/flink/usrlib/orders.jar"
  entry_class   = "com.example.orders.OrdersJob"
  flink_version = "1.20"
  flink_configuration = { "pipeline.name" = "orders" }
  env_from_secrets = {
    KAFKA_PASSWORD = { secret = "kafka-credentials", key = "kafka.password" }
  }
  flink_configuration_secrets = ["kafka-credentials"]
}
`, label, ns, strings.TrimPrefix(label, "v"))
	}
	return b.String()
}

func sensitiveSecrets(db, token string) string {
	return fmt.Sprintf(`secret_flink_configuration = { "fixture.db.password" = %q }
  secret_env                 = { API_TOKEN = %q }`, db, token)
}

// ownedSecrets names the Secrets the provider owns for orders in ns.
func ownedSecrets(k8s kubernetes.Interface, ns string) ([]string, map[string]*corev1.Secret, error) {
	list, err := k8s.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.OwnedSecretSelector("orders")})
	if err != nil {
		return nil, nil, err
	}
	var names []string
	byName := map[string]*corev1.Secret{}
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
		byName[list.Items[i].Name] = &list.Items[i]
	}
	sort.Strings(names)
	return names, byName, nil
}

// expectSecrets checks that the provider owns exactly the Secret want (none when ""),
// holding db and token, and that the running JobManager got db and the Secret kafka-credentials
// merged into its configuration.
func expectSecrets(emulator *flinktest.Emulator, k8s kubernetes.Interface, ns, want, db, token, kafka string) error {
	names, byName, err := ownedSecrets(k8s, ns)
	if err != nil {
		return err
	}
	if want == "" {
		if len(names) > 0 {
			return fmt.Errorf("the provider still owns Secrets %v", names)
		}
		return nil
	}
	if strings.Join(names, ",") != want {
		return fmt.Errorf("the provider owns Secrets %v, want only %s", names, want)
	}
	s := byName[want]
	if string(s.Data["flink-conf.fixture.db.password"]) != db || string(s.Data["env.API_TOKEN"]) != token || !*s.Immutable {
		return fmt.Errorf("Secret %s does not hold the expected values (or is mutable)", want)
	}
	cluster := emulator.Cluster(kube.RestHost("orders", ns))
	if cluster == nil {
		return nil // suspended
	}
	conf := cluster.Spec().Config
	if conf["fixture.db.password"] != db || conf["kafka.password"] != kafka {
		return fmt.Errorf("the JobManager's configuration does not have the secret keys with their values")
	}
	return nil
}

// TestAccStreamingApplication_secretScan runs an application with secrets through its life
// (create, upgrade, rotate, suspend, rotate while suspended, resume, destroy, create again) and
// after every step scans every object in the namespace (Secrets excepted), the non-sensitive
// parts of the plan and the state, and finally the CLI's and the provider's TRACE logs, for
// every secret value used: none may appear. It also checks the values reach the JobManager.
func TestAccStreamingApplication_secretScan(t *testing.T) {
	logPath := acctest.CaptureTerraformLogs(t)
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	emulator := acctest.Emulator(t)
	values := acctest.SecretValues{
		"the external Secret's kafka.password": "kafka-Zq8-secret-value",
		"db password A":                        "db-A-9f3e1c-value", "token A": "tok-A-77ab12-value",
		"db password B": "db-B-41c2d7-value", "token B": "tok-B-0c55e9-value",
		"db password C": "db-C-e21a90-value", "token C": "tok-C-3b6d4f-value",
	}
	kafka := values["the external Secret's kafka.password"]
	acctest.CreateSecret(t, ns, "kafka-credentials", map[string]string{"kafka.password": kafka})
	cfg := func(version, state, db, token string, versions ...string) string {
		return acctest.ProviderConfig(t) + secretVersions(ns, versions...) + appHCL(ns, versionRef(version), state, sensitiveSecrets(db, token))
	}
	clean := []statecheck.StateCheck{
		acctest.ExpectStateClean(values, false),
		acctest.ExpectNamespaceClean(k8s, ns, values),
		statecheck.ExpectSensitiveValue(app, tfjsonpath.New("secret_flink_configuration")),
		statecheck.ExpectSensitiveValue(app, tfjsonpath.New("secret_env")),
	}
	planned := func(op string, extra ...plancheck.PlanCheck) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: append([]plancheck.PlanCheck{
			plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact(op)),
			plancheck.ExpectSensitiveValue(app, tfjsonpath.New("secret_flink_configuration")),
			acctest.ExpectPlanClean(values, false),
		}, extra...)}
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
	a, b, c := [2]string{values["db password A"], values["token A"]}, [2]string{values["db password B"], values["token B"]},
		[2]string{values["db password C"], values["token C"]}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			return expectSecrets(emulator, k8s, ns, "", "", "", "")
		},
		Steps: []resource.TestStep{
			{
				Config:            cfg("v1", "running", a[0], a[1], "v1"),
				ConfigPlanChecks:  planned("deploy", plancheck.ExpectResourceAction(app, plancheck.ResourceActionCreate)),
				ConfigStateChecks: clean,
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-1", a[0], a[1], kafka)
				}),
			},
			{
				Config:           cfg("v1", "running", a[0], a[1], "v1"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// A new version with the same secret settings keeps their Secret.
				Config:            cfg("v2", "running", a[0], a[1], "v1", "v2"),
				ConfigPlanChecks:  planned("savepoint_redeploy"),
				ConfigStateChecks: clean,
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-1", a[0], a[1], kafka)
				}),
			},
			{
				// Rotation: the only change, and it is sensitive; the plan still names the upgrade.
				Config:            cfg("v2", "running", b[0], b[1], "v1", "v2"),
				ConfigPlanChecks:  planned("savepoint_redeploy", plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate)),
				ConfigStateChecks: clean,
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-2", b[0], b[1], kafka)
				}),
			},
			{
				Config:            cfg("v2", "suspended", b[0], b[1], "v1", "v2"),
				ConfigPlanChecks:  planned("suspend"),
				ConfigStateChecks: clean,
			},
			{
				// While suspended the new values are only stored.
				Config:            cfg("v2", "suspended", c[0], c[1], "v1", "v2"),
				ConfigPlanChecks:  planned("none"),
				ConfigStateChecks: clean,
				Check: func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-3", c[0], c[1], kafka)
				},
			},
			{
				Config:            cfg("v2", "running", c[0], c[1], "v1", "v2"),
				ConfigPlanChecks:  planned("resume"),
				ConfigStateChecks: clean,
				Check: resource.ComposeTestCheckFunc(newJob, func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-3", c[0], c[1], kafka)
				}),
			},
			{
				// Destroy the application (a final savepoint), keep the versions.
				Config:            acctest.ProviderConfig(t) + secretVersions(ns, "v1", "v2"),
				ConfigStateChecks: []statecheck.StateCheck{acctest.ExpectStateClean(values, false), acctest.ExpectNamespaceClean(k8s, ns, values)},
				Check: func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "", "", "", "")
				},
			},
			{
				// And create it again: it resumes from the final savepoint with its secrets.
				Config:            cfg("v2", "running", c[0], c[1], "v1", "v2"),
				ConfigPlanChecks:  planned("deploy"),
				ConfigStateChecks: clean,
				Check: func(*terraform.State) error {
					return expectSecrets(emulator, k8s, ns, "orders-secrets-1", c[0], c[1], kafka)
				},
			},
		},
	})
	if t.Failed() {
		return
	}
	if err := acctest.ScanLog(logPath, values); err != nil {
		t.Error(err)
	}
	// The scan read the provider's own log lines too, not only the CLI's.
	if b, err := os.ReadFile(logPath); err != nil || !strings.Contains(string(b), "secret settings written to Secret orders-secrets-") {
		t.Errorf("the log %s has no progress line of the provider (%v): the scan did not cover its logs", logPath, err)
	}
	if findings, err := acctest.ScanNamespace(context.Background(), k8s, ns, values); err != nil || len(findings) > 0 {
		t.Errorf("after destroy: %v %v", findings, err)
	}
}

// TestAccStreamingApplication_secretValidation: secret settings that cannot work fail at plan
// time, naming the attribute or the key, never showing a value.
func TestAccStreamingApplication_secretValidation(t *testing.T) {
	ns := acctest.Namespace(t)
	const value = "not-to-be-shown-8d1f"
	cases := map[string]struct {
		extra, want string
	}{
		"provider key":     {`secret_flink_configuration = { "rest.port" = "` + value + `" }`, `"rest.port" is managed by the provider`},
		"not a Secret key": {`secret_flink_configuration = { "a/b" = "` + value + `" }`, `a Secret key may only contain`},
		"env name":         {`secret_env = { "1X" = "` + value + `" }`, `Invalid environment variable name`},
		"also in the version": {`secret_flink_configuration = { "pipeline.name" = "` + value + `" }`,
			`"pipeline.name" is set both in the version's flink_configuration`},
		"also in env_from_secrets": {`secret_env = { KAFKA_PASSWORD = "` + value + `" }`, `"KAFKA_PASSWORD" is set both in the version's env_from_secrets`},
		"version without wo":       {`secret_env_wo_version = 1`, `"secret_env_wo" must be specified`},
	}
	// The version exists (recorded directly), so the plan checks the application against it.
	v := spec.Version{Namespace: ns, Application: "orders", Label: "v1", Image: "flink:1.20.1", JarURI: "local:///opt/flink/usrlib/orders.jar",
		EntryClass: "com.example.orders.OrdersJob", FlinkVersion: "1.20", Parallelism: 1,
		FlinkConfiguration: map[string]string{"pipeline.name": "orders"},
		JobManager:         spec.JobManager{CPU: 1, Memory: "1600m", Replicas: 1}, TaskManager: spec.TaskManager{CPU: 1, Memory: "1728m", Replicas: 1, TaskSlots: 1},
		EnvFromSecrets: map[string]spec.SecretKeyRef{"KAFKA_PASSWORD": {Secret: "kafka-credentials", Key: "kafka.password"}}}
	if err := records.New(&kube.Client{Kube: acctest.Kube(t)}).PutVersionRecord(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				Steps: []resource.TestStep{{
					Config:      acctest.ProviderConfig(t) + appHCL(ns, strconv.Quote(ns+"/orders/v1"), "", tc.extra),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(regexp.MustCompile(` +`).ReplaceAllString(tc.want, `\s+`)),
				}},
			})
		})
	}
}

// TestAccStreamingApplication_writeOnlyNeedsNewCLI: the schema still works with CLIs that
// predate write-only arguments (everything above runs on them); setting one is refused,
// saying which versions support it.
func TestAccStreamingApplication_writeOnlyNeedsNewCLI(t *testing.T) {
	ns := acctest.Namespace(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.RequireBelow(tfversion.Version1_11_0)},
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfig(t) + secretVersions(ns, "v1") + appHCL(ns, versionRef("v1"), "running",
				`secret_env_wo = { API_TOKEN = "x" }
  secret_env_wo_version = 1`),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`Write-only attributes are only supported in\s+Terraform\s+1.11\s+and\s+later`),
		}},
	})
}
