package kube

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// RBACGuide is where users find the Role the provider needs; errors point there.
const RBACGuide = "docs/guides/rbac.md"

// ProviderRoleName is the name the RBAC guide's example and the acceptance tests give the
// provider's Role, RoleBinding and ServiceAccount.
const ProviderRoleName = "terraform-provider-flink"

// PermissionRule is one rule of the provider's namespace-scoped Role, with why it is there.
type PermissionRule struct {
	rbacv1.PolicyRule
	// Why says which provider calls need the rule; the RBAC guide and its examples show it.
	Why string
	// ServiceProxyOnly rules are needed only with flink_access mode "proxy".
	ServiceProxyOnly bool
}

func rule(group string, resources, verbs []string, why string) PermissionRule {
	return PermissionRule{PolicyRule: rbacv1.PolicyRule{APIGroups: []string{group}, Resources: resources, Verbs: verbs}, Why: why}
}

// ProviderPermissions is the least-privilege Role the provider needs in every namespace it
// manages applications in: every verb on every resource this package calls, and nothing
// else except what the provider must hold to grant it to a JobManager (see
// JobManagerHARules). It is the one source of the RBAC guide's examples (tools/rbacgen)
// and of the identity the acceptance tests run the provider as (internal/acctest).
func ProviderPermissions() []PermissionRule {
	return []PermissionRule{
		rule("", []string{"configmaps"}, []string{"get", "list", "watch", "create", "update", "patch", "delete"},
			"Records (application, version, snapshot) are ConfigMaps: get, list, create, update, delete. "+
				"The Flink configuration ConfigMap is server-side applied (patch, and create when missing) and deleted. "+
				"watch is not called by the provider: it is held so that the provider may grant it to the JobManager's Role for Kubernetes HA."),
		rule("", []string{"configmaps/finalizers"}, []string{"update"},
			"Cluster objects are owned by the application record with blockOwnerDeletion, so that deleting the record cascades. "+
				"Where the OwnerReferencesPermissionEnforcement admission plugin is on (e.g. OpenShift), setting blockOwnerDeletion needs update on the owner's finalizers."),
		rule("", []string{"services"}, []string{"get", "create", "patch", "delete"},
			"The REST and RPC Services: server-side apply (patch, and create when missing), get while waiting for deletion, delete."),
		rule("apps", []string{"deployments"}, []string{"get", "create", "patch", "delete"},
			"The JobManager and TaskManager Deployments: server-side apply (patch, and create when missing), get to follow the rollout, delete."),
		rule("", []string{"pods"}, []string{"list", "deletecollection"},
			"Reports pods stuck in ImagePullBackOff or CrashLoopBackOff and JobManagers that exited while waiting for a rollout, and waits for pods to go after a delete. "+
				"restart_task_managers deletes the TaskManager pods of a stuck job (deletecollection by label)."),
		rule("", []string{"events"}, []string{"create"},
			"An Event on the application record for every apply (kubectl describe configmap <name>-flink-application)."),
		rule("coordination.k8s.io", []string{"leases"}, []string{"get", "create", "update", "delete"},
			"The per-application lock is a Lease: get, create, update (renew, take over), delete (release)."),
		rule("", []string{"secrets"}, []string{"get", "list", "create", "delete"},
			"The application's sensitive settings (secret_flink_configuration, secret_env) live in an immutable Secret per change: "+
				"create, get (an earlier create whose answer was lost), list and delete (the Secrets a newer one superseded). "+
				"Secrets that versions reference are read by the kubelet, not by the provider; the one "+
				"snapshot_storage_credentials_secret names is read (get) when snapshot storage is first used."),
		rule("", []string{"serviceaccounts"}, []string{"get", "create", "update", "patch", "delete"},
			"Kubernetes HA: each application's JobManager runs as its own ServiceAccount."),
		rule("rbac.authorization.k8s.io", []string{"roles", "rolebindings"}, []string{"get", "create", "update", "patch", "delete"},
			"Kubernetes HA: the Role and RoleBinding that let the JobManager keep its leader election and job metadata in ConfigMaps and Leases. "+
				"The API server lets the provider grant only permissions it holds itself, so no bind or escalate is needed."),
		{
			PolicyRule: rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services/proxy"}, Verbs: []string{"get", "create", "patch"}},
			Why: "Only with flink_access mode \"proxy\" (the default): Flink's REST API through the API server's service proxy. " +
				"GET reads jobs and checkpoints, POST (create) triggers savepoints and stop-with-savepoint, PATCH cancels a job.",
			ServiceProxyOnly: true,
		},
	}
}

// ProviderRules is the provider's Role for flink_access mode "proxy" (serviceProxy) or
// "direct".
func ProviderRules(serviceProxy bool) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range ProviderPermissions() {
		if r.ServiceProxyOnly && !serviceProxy {
			continue
		}
		out = append(out, *r.PolicyRule.DeepCopy())
	}
	return out
}

// JobManagerHARules is the Role the provider creates for each application's JobManager
// (Kubernetes HA): Flink's Kubernetes HA services (1.18 to 2.3) keep leader election, job
// graphs (2.x: execution plans), checkpoint pointers and counters in ConfigMaps. The leader
// lock is a ConfigMap (fabric8's ConfigMapLock, updated with a patch), not a Lease. RBAC
// escalation prevention lets the provider create that Role only if it holds all of it; a
// test checks ProviderRules does.
func JobManagerHARules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{
		APIGroups: []string{""},
		Resources: []string{"configmaps"},
		Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}}
}

// WithoutPermission returns rules without verb on resource (in group), for tests that show
// what a missing permission looks like.
func WithoutPermission(rules []rbacv1.PolicyRule, group, resource, verb string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		r = *r.DeepCopy()
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) {
			if len(r.APIGroups) > 1 || len(r.Resources) > 1 {
				// Split the rule so that only group/resource loses the verb.
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						one := rbacv1.PolicyRule{APIGroups: []string{g}, Resources: []string{res}, Verbs: slices.Clone(r.Verbs)}
						out = append(out, WithoutPermission([]rbacv1.PolicyRule{one}, group, resource, verb)...)
					}
				}
				continue
			}
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == verb })
			if len(r.Verbs) == 0 {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// Allows reports whether rules grant verb on every object of resource in group, by RBAC's
// own comparison (wildcards count; a rule limited to resourceNames does not).
func Allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	ok, _ := validation.Covers(rules, []rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: []string{resource}, Verbs: []string{verb}}})
	return ok
}
