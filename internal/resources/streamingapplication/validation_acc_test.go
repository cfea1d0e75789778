package streamingapplication_test

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestAccStreamingApplication_badInput: a savepoint directory Flink cannot use for savepoints
// that outlive the pod, and labels or annotations the API server would refuse, fail at plan
// time naming the attribute, before any job is touched.
func TestAccStreamingApplication_badInput(t *testing.T) {
	ns := acctest.Namespace(t)
	appWith := func(extra string) string {
		return acctest.ProviderConfig(t) + appHCL(ns, strconv.Quote(ns+"/orders/v1"), "", extra)
	}
	cases := map[string]struct {
		extra string
		want  string
	}{
		"bare path is pod-local disk": {`savepoint_directory = "/tmp/sp"`,
			`Invalid savepoint directory(?s:.*)savepoint_directory = "/tmp/sp"(?s:.*)"/tmp/sp" has no scheme, so Flink would write savepoints to the pod's local disk`},
		"relative path":          {`savepoint_directory = "savepoints/orders"`, `"savepoints/orders" has no scheme`},
		"unsupported scheme":     {`savepoint_directory = "ftp://host/sp"`, `scheme "ftp" of "ftp://host/sp" is not a file system Flink writes savepoints to`},
		"file URI with a host":   {`savepoint_directory = "file://tmp/sp"`, `"file://tmp/sp" names host "tmp"; a local or mounted directory is file:///path`},
		"relative file URI":      {`savepoint_directory = "file:sp"`, `"file:sp" is not an absolute URI`},
		"bucket missing":         {`savepoint_directory = "s3:///savepoints"`, `"s3:///savepoints" names no bucket`},
		"fragment":               {`savepoint_directory = "s3://bucket/sp#1"`, `has a query or fragment`},
		"label value with space": {`labels = { team = "payments team" }`, `"payments team" is not a valid label value`},
		"annotation key":         {`annotations = { "owner name" = "x" }`, `"owner name" is not a valid annotation key`},
		// A file:// directory is durable only as shared storage the provider sees too.
		"local file path outside the snapshot storage": {`savepoint_directory = "file:///mnt/shared/savepoints"`,
			`savepoint_directory "file:///mnt/shared/savepoints" is a local file path`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				Steps: []resource.TestStep{{
					Config:      appWith(tc.extra),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(regexp.MustCompile(` +`).ReplaceAllString(tc.want, `\s+`)),
				}},
			})
		})
	}
	// Every scheme family the rule accepts passes plan (only planned: nothing runs).
	for _, dir := range []string{"s3://bucket/savepoints/orders", "gs://bucket/sp", "abfss://sp@account.dfs.core.windows.net/orders",
		"hdfs:///flink/savepoints", "file://" + acctest.SnapshotDir(t) + "/orders"} {
		t.Run("accepts "+dir, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				Steps: []resource.TestStep{{
					Config:             appWith(fmt.Sprintf("savepoint_directory = %q", dir)),
					PlanOnly:           true,
					ExpectNonEmptyPlan: true,
				}},
			})
		})
	}
}

// TestAccStreamingApplication_badVersionInputLeavesJobRunning is the review's reproduction:
// moving a running application to a new version whose flink_configuration has a key the
// renderer refuses used to pass plan, stop the job with a savepoint, and only then fail. Now
// the plan fails and the job keeps running untouched: same job, no snapshot taken.
func TestAccStreamingApplication_badVersionInputLeavesJobRunning(t *testing.T) {
	ns := acctest.Namespace(t)
	v1 := ver{label: "v1", image: "flink:1.20.1"}
	v2 := ver{label: "v2", image: "flink:1.20.2", conf: map[string]string{"s3.access key": "AKIA"}}
	sameJob := statecheck.CompareValue(compare.ValuesSame())
	const app = "flink_streaming_application.test"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, []ver{v1}, "v1", "running"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
					sameJob.AddStateValue(app, tfjsonpath.New("job_id")),
				},
			},
			{
				// The error must come from the plan, not from an apply that already stopped the job.
				Config: appConfig(t, ns, []ver{v1, v2}, "v2", "running"),
				ExpectError: regexp.MustCompile(`^Error running pre-apply plan:(?s:.*)` +
					words(`flink_configuration key "s3.access key" is invalid`).String()),
			},
			{
				Config: appConfig(t, ns, []ver{v1}, "v1", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed_version_id"), knownvalue.StringExact(ns+"/orders/v1")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("last_snapshot_id"), knownvalue.StringExact("")),
					sameJob.AddStateValue(app, tfjsonpath.New("job_id")),
				},
			},
		},
	})
}
