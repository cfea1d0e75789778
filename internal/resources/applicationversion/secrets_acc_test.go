package applicationversion_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

const secretRefs = `
  env_from_secrets = {
    KAFKA_PASSWORD = { secret = "kafka-credentials", key = "password" }
  }
  flink_configuration_secrets = ["s3-credentials", "tls"]
`

// TestAccApplicationVersion_secretReferences records references to Secrets (names and keys
// only), reads them back through import, and refuses what cannot work at plan time.
func TestAccApplicationVersion_secretReferences(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: versionConfig(t, ns, validBody+secretRefs),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(version, tfjsonpath.New("env_from_secrets").AtMapKey("KAFKA_PASSWORD").AtMapKey("secret"),
						knownvalue.StringExact("kafka-credentials")),
					statecheck.ExpectKnownValue(version, tfjsonpath.New("flink_configuration_secrets"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("s3-credentials"), knownvalue.StringExact("tls")})),
				},
				Check: func(*terraform.State) error {
					cm, err := k8s.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.VersionRecordName("orders", "v1"), metav1.GetOptions{})
					if err != nil {
						return err
					}
					if rec := cm.Data[kube.RecordDataKey]; !strings.Contains(rec, `"envFromSecrets"`) || !strings.Contains(rec, `"s3-credentials"`) {
						return fmt.Errorf("the version record does not hold the references: %s", rec)
					}
					return nil
				},
			},
			{ResourceName: version, ImportState: true, ImportStateVerify: true, ImportStateId: ns + "/orders/v1"},
			{
				Config:      versionConfig(t, ns, validBody+secretRefs+`  env = { KAFKA_PASSWORD = "plain" }`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`KAFKA_PASSWORD is set both in env and in env_from_secrets`),
			},
			{
				Config:      versionConfig(t, ns, validBody+`  flink_configuration_secrets = ["Not_A_Secret"]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`"Not_A_Secret" is not a Secret name`),
			},
			{
				Config:      versionConfig(t, ns, validBody+`  env_from_secrets = { X = { secret = "s", key = "a b" } }`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`"a b" is not a Secret key`),
			},
			{
				// Back to a valid configuration, so the test's destroy can plan.
				Config: versionConfig(t, ns, validBody+secretRefs),
			},
		},
	})
}
