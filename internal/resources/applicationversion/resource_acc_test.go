package applicationversion_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

func TestMain(m *testing.M) { os.Exit(acctest.Run(m)) }

const version = "flink_application_version.test"

func versionConfig(t *testing.T, ns, body string) string {
	return acctest.ProviderConfig(t) + fmt.Sprintf(`
resource "flink_application_version" "test" {
  application = "orders"
  namespace   = %q
  version     = "v1"
%s
}
`, ns, body)
}

const validBody = `
  image         = "flink:1.20.1"
  jar_uri       = "local:///opt/flink/usrlib/orders.jar"
  entry_class   = "com.example.orders.OrdersJob"
  flink_version = "1.20"
  args          = ["--region", "eu"]
  flink_configuration = {
    "execution.checkpointing.interval" = "30s"
  }
`

// TestAccApplicationVersion_basic records a version, reads it back through import and the
// data source, replaces it on any change, and removes the record on destroy.
func TestAccApplicationVersion_basic(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			_, err := k8s.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.VersionRecordName("orders", "v1"), metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("version record still exists after destroy (err=%v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: versionConfig(t, ns, validBody),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(version, tfjsonpath.New("id"), knownvalue.StringExact(ns+"/orders/v1")),
					statecheck.ExpectKnownValue(version, tfjsonpath.New("parallelism"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(version, tfjsonpath.New("task_manager").AtMapKey("memory"), knownvalue.StringExact("1728m")),
				},
				Check: func(*terraform.State) error {
					cm, err := k8s.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.VersionRecordName("orders", "v1"), metav1.GetOptions{})
					if err != nil {
						return err
					}
					if cm.Immutable == nil || !*cm.Immutable {
						return fmt.Errorf("version record %s is not immutable", cm.Name)
					}
					return nil
				},
			},
			{
				ResourceName:      version,
				ImportState:       true,
				ImportStateVerify: true,
				ImportStateId:     ns + "/orders/v1",
			},
			{
				Config: versionConfig(t, ns, validBody) + fmt.Sprintf(`
data "flink_application_version" "read" {
  application = "orders"
  namespace   = %q
  version     = "v1"
  depends_on  = [flink_application_version.test]
}
`, ns),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.flink_application_version.read", tfjsonpath.New("entry_class"),
						knownvalue.StringExact("com.example.orders.OrdersJob")),
					statecheck.ExpectKnownValue("data.flink_application_version.read", tfjsonpath.New("args"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("--region"), knownvalue.StringExact("eu")})),
				},
			},
			{
				// Versions are immutable: any change is a replacement.
				Config: versionConfig(t, ns, validBody+`  parallelism = 1
  description = "same job, documented"
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(version, plancheck.ResourceActionDestroyBeforeCreate),
				}},
			},
		},
	})
}

// TestAccApplicationVersion_badInput: each bad value is rejected at plan time, naming the
// attribute and the reason.
func TestAccApplicationVersion_badInput(t *testing.T) {
	ns := acctest.Namespace(t)
	cases := map[string]struct {
		body string
		want string
	}{
		"memory":           {validBody + `  task_manager = { memory = "12 bananas" }`, `invalid memory size "12 bananas"`},
		"zero memory":      {validBody + `  job_manager = { memory = "0m" }`, `invalid memory size "0m": must be greater than zero`},
		"cpu":              {validBody + `  task_manager = { cpu = 0 }`, `value must be at least 0.001`},
		"parallelism":      {validBody + `  parallelism = 0`, `parallelism value must be at least 1`},
		"slots":            {validBody + `  parallelism = 8`, `parallelism 8 needs 8 task slots`},
		"flink version":    {replace(validBody, `flink_version = "1.20"`, `flink_version = "1.12"`), `Flink "1.12" is not supported`},
		"jar scheme":       {replace(validBody, `local:///opt/flink/usrlib/orders.jar`, `ftp://host/orders.jar`), `scheme "ftp"`},
		"class name":       {replace(validBody, `com.example.orders.OrdersJob`, `com.example.1Orders Job`), `not a Java class name`},
		"owned config key": {replace(validBody, `"execution.checkpointing.interval" = "30s"`, `"rest.port" = "9999"`), `"rest.port" is set by the provider`},
		"restore path key": {replace(validBody, `"execution.checkpointing.interval" = "30s"`, `"execution.savepoint.path" = "s3://b/sp"`), `execution.savepoint.path`},
		"ha key":           {replace(validBody, `"execution.checkpointing.interval" = "30s"`, `"high-availability.type" = "zookeeper"`), `Kubernetes HA is configured\s+by the provider`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				Steps: []resource.TestStep{{
					Config:      versionConfig(t, ns, tc.body),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
	t.Run("application name", func(t *testing.T) {
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: providertest.Factories,
			Steps: []resource.TestStep{{
				Config: acctest.ProviderConfig(t) + `
resource "flink_application_version" "test" {
  application   = "Orders_Service"
  version       = "v1"
  image         = "flink:1.20.1"
  jar_uri       = "local:///opt/flink/usrlib/orders.jar"
  entry_class   = "com.example.orders.OrdersJob"
  flink_version = "1.20"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`application name "Orders_Service" is invalid`),
			}},
		})
	})
}

func replace(s, old, new string) string {
	out := regexp.MustCompile(regexp.QuoteMeta(old)).ReplaceAllLiteralString(s, new)
	if out == s {
		panic("test bug: " + old + " not found")
	}
	return out
}
