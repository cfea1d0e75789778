package streamingapplication_test

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestAccStreamingApplication_missingPermission takes one permission of the RBAC guide's
// Role away from the provider and starts an application that was created suspended (so
// that its JobManager and TaskManager objects are created now): the error names the verb
// and the resource the provider's identity lacks, and where the Role is documented. Given
// the whole Role back, the next apply finishes the job.
func TestAccStreamingApplication_missingPermission(t *testing.T) {
	for _, tc := range []struct {
		name, group, resource, verb string
		want                        string
	}{
		{"deployments create", "apps", "deployments", "create", "permission to create deployments.apps in namespace"},
		{"leases get", "coordination.k8s.io", "leases", "get", "permission to get leases.coordination.k8s.io in namespace"},
		// Only where OwnerReferencesPermissionEnforcement is on, as in the test cluster.
		{"finalizers update", "", "configmaps/finalizers", "update", "permission to update configmaps/finalizers in namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := acctest.Namespace(t)
			versions := map[string]string{"v1": "flink:1.20.1"}
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: providertest.Factories,
				CheckDestroy:             checkGone(t, ns, "orders"),
				Steps: []resource.TestStep{
					{
						Config: config(t, ns, versions, "v1", "suspended", onDestroyCancel),
					},
					{
						PreConfig: func() {
							acctest.GrantProvider(t, ns, kube.WithoutPermission(acctest.ProviderRoleRules(), tc.group, tc.resource, tc.verb))
						},
						Config:      config(t, ns, versions, "v1", "running", onDestroyCancel),
						ExpectError: words("The provider's Kubernetes identity lacks " + tc.want + " " + ns + ": give it the Role in docs/guides/rbac.md."),
					},
					{
						PreConfig: func() { acctest.GrantProvider(t, ns, acctest.ProviderRoleRules()) },
						Config:    config(t, ns, versions, "v1", "running", onDestroyCancel),
						Check:     resource.TestCheckResourceAttr(app, "status", "RUNNING"),
					},
				},
			})
		})
	}
}

// A failed run destroys an application whose job never started: without a savepoint to
// wait for, that ends in minutes.
const onDestroyCancel = `on_destroy = "cancel"`
