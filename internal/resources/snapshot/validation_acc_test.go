package snapshot_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestAccSnapshot_badPath: a path to adopt that is not an absolute URI of a file system
// Flink restores from fails at plan time, naming path.
func TestAccSnapshot_badPath(t *testing.T) {
	ns := acctest.Namespace(t)
	for name, tc := range map[string]struct{ path, want string }{
		"bare path":        {"/tmp/savepoint-0a1b2c-5e6f7a8b9c0d", `"/tmp/savepoint-0a1b2c-5e6f7a8b9c0d" has no scheme`},
		"relative path":    {"savepoints/savepoint-0a1b2c-5e6f7a8b9c0d", `has no scheme`},
		"unknown scheme":   {"mem://savepoint-0a1b2c", `scheme "mem" of "mem://savepoint-0a1b2c" is not a file system Flink writes savepoints to`},
		"file with a host": {"file://tmp/savepoint-0a1b2c", `names host "tmp"`},
	} {
		t.Run(name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				Steps: []resource.TestStep{{
					Config:      acctest.ProviderConfig(t) + adoptHCL(ns, tc.path, ""),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(words(`Invalid savepoint directory`).String() + `(?s:.*)` + words(tc.want).String()),
				}},
			})
		})
	}
}
