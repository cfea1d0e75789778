package applicationversion_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
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
				Config: versionConfig(t, ns, validBody+"  metrics = {}\n"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(version, tfjsonpath.New("id"), knownvalue.StringExact(ns+"/orders/v1")),
					statecheck.ExpectKnownValue(version, tfjsonpath.New("metrics"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"port": knownvalue.Int64Exact(9249), "scrape_annotations": knownvalue.Bool(true)})),
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
				Config: versionConfig(t, ns, validBody+"  metrics = {}\n") + fmt.Sprintf(`
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
					statecheck.ExpectKnownValue("data.flink_application_version.read", tfjsonpath.New("metrics").AtMapKey("port"), knownvalue.Int64Exact(9249)),
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
// attribute and the reason. Every input the renderer would refuse during an upgrade, after
// the old job was stopped, is among them. A want pattern may contain \s+ and (?s:.*);
// spaces in it match any whitespace, since the CLI wraps long messages.
func TestAccApplicationVersion_badInput(t *testing.T) {
	ns := acctest.Namespace(t)
	const checkpointing = `"execution.checkpointing.interval" = "30s"`
	legacy := replace(validBody, `flink_version = "1.20"`, `flink_version = "1.18"`)
	cases := map[string]struct {
		body string
		want string
	}{
		"memory":           {validBody + `  task_manager = { memory = "12 bananas" }`, `invalid memory size "12 bananas"`},
		"zero memory":      {validBody + `  job_manager = { memory = "0m" }`, `invalid memory size "0m": must be greater than zero`},
		"cpu":              {validBody + `  task_manager = { cpu = 0 }`, `Invalid CPU cores(?s:.*)invalid cpu 0: must be greater than 0 cores`},
		"cpu too large":    {validBody + `  job_manager = { cpu = 1e16 }`, `Invalid CPU cores(?s:.*)too large`},
		"parallelism":      {validBody + `  parallelism = 0`, `parallelism value must be at least 1`},
		"slots":            {validBody + `  parallelism = 8`, `parallelism 8 needs 8 task slots`},
		"flink version":    {replace(validBody, `flink_version = "1.20"`, `flink_version = "1.12"`), `Flink "1.12" is not supported`},
		"jar scheme":       {replace(validBody, `local:///opt/flink/usrlib/orders.jar`, `ftp://host/orders.jar`), `scheme "ftp"`},
		"class name":       {replace(validBody, `com.example.orders.OrdersJob`, `com.example.1Orders Job`), `not a Java class name`},
		"owned config key": {replace(validBody, checkpointing, `"rest.port" = "9999"`), `"rest.port" is set by the provider`},
		"restore path key": {replace(validBody, checkpointing, `"execution.savepoint.path" = "s3://b/sp"`), `execution.savepoint.path`},
		"ha key": {replace(validBody, checkpointing, `"high-availability.type" = "zookeeper"`),
			`"high-availability.type" is set by the provider, which configures Kubernetes HA itself: use high_availability`},
		// The review's reproduction: the key used to pass plan and fail in the renderer.
		"config key with space": {replace(validBody, checkpointing, checkpointing+"\n    \"s3.access key\" = \"AKIA\""),
			`Invalid Flink configuration key(?s:.*)"s3.access key" = "AKIA"(?s:.*)flink_configuration key "s3.access key" is invalid`},
		"config key with colon": {replace(validBody, checkpointing, `"state.backend:type" = "rocksdb"`), `flink_configuration key "state.backend:type" is invalid`},
		"null config value":     {replace(validBody, checkpointing, `"state.backend.type" = null`), `Null Map Value`},
		"hash in flink-conf.yaml value": {replace(legacy, checkpointing, checkpointing+"\n    \"metrics.scope.jm\" = \"flink#jm\""),
			`flink-conf.yaml(?s:.*)"metrics.scope.jm" = "flink#jm"(?s:.*)the value contains '#'(?s:.*)flink_version 1.19 or later`},
		"line break in flink-conf.yaml value": {replace(legacy, checkpointing, `"env.java.opts.all" = "-Da=1\n-Db=2"`),
			`the value contains a line break, which flink-conf.yaml \(Flink < 1.19\) cannot hold`},
		"env name":                 {validBody + `  env = { "1PASSWORD_TOKEN" = "x" }`, `Invalid environment variable name(?s:.*)"1PASSWORD_TOKEN" is not a valid environment variable name`},
		"env name space":           {validBody + `  env = { "MY VAR" = "x" }`, `"MY VAR" is not a valid environment variable name`},
		"image uppercase":          {replace(validBody, `image         = "flink:1.20.1"`, `image         = "Flink:1.20.1"`), `"Flink:1.20.1" is not a container image reference(?s:.*)e.g. flink:1.20.1-java17`},
		"image empty":              {replace(validBody, `image         = "flink:1.20.1"`, `image         = ""`), `"" is not a container image reference`},
		"image url":                {replace(validBody, `image         = "flink:1.20.1"`, `image         = "https://ghcr.io/acme/orders:1"`), `is not a container image reference`},
		"metrics on the REST port": {validBody + `  metrics = { port = 8081 }`, `metrics.port(?s:.*)value must be none of`},
		"metrics reporter set twice": {replace(validBody, checkpointing, `"metrics.reporter.prom.port" = "9300"`) + `  metrics = {}`,
			`Prometheus reporter configured twice(?s:.*)flink_configuration sets metrics.reporter.prom.port`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				Steps: []resource.TestStep{{
					Config:      versionConfig(t, ns, tc.body),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(strings.ReplaceAll(tc.want, " ", `\s+`)),
				}},
			})
		})
	}
	// The same values are fine where the configuration file can hold them, so the rule is
	// about flink-conf.yaml, not about the characters.
	t.Run("hash and line break in config.yaml value", func(t *testing.T) {
		resource.Test(t, resource.TestCase{
			ProtoV6ProviderFactories: providertest.Factories,
			Steps: []resource.TestStep{{
				Config:             versionConfig(t, ns, replace(validBody, checkpointing, `"metrics.scope.jm" = "flink#jm\nx"`)),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			}},
		})
	})
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

// TestAccApplicationVersion_emptyCollectionsPlanClean: a version that writes its optional lists,
// sets and maps as empty ([] or {}) plans no change after apply. Read used to turn the empty
// flink_configuration_secrets and env_from_secrets into null, and the
// next plan replaced the version (refused once deployed: found by make demo's quickstart).
func TestAccApplicationVersion_emptyCollectionsPlanClean(t *testing.T) {
	ns := acctest.Namespace(t)
	body := `
  image                       = "flink:1.20.1"
  jar_uri                     = "local:///opt/flink/usrlib/orders.jar"
  entry_class                 = "com.example.orders.OrdersJob"
  flink_version               = "1.20"
  args                        = []
  flink_configuration         = {}
  env                         = {}
  env_from_secrets            = {}
  flink_configuration_secrets = []
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: versionConfig(t, ns, body)},
			{
				Config:           versionConfig(t, ns, body),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}
