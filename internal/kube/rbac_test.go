package kube

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The API server lets the provider create the JobManager's Role (and bind it) only if the
// provider holds every permission in it: RBAC escalation prevention.
func TestProviderRulesHoldJobManagerHARules(t *testing.T) {
	for _, proxy := range []bool{false, true} {
		rules := ProviderRules(proxy)
		for _, r := range JobManagerHARules() {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						if !Allows(rules, g, res, v) {
							t.Errorf("ProviderRules(%v) lacks %s %s in group %q, which the JobManager's Role grants", proxy, v, res, g)
						}
					}
				}
			}
		}
	}
}

func TestProviderRulesPerAccessMode(t *testing.T) {
	direct, proxy := ProviderRules(false), ProviderRules(true)
	if len(proxy) != len(direct)+1 {
		t.Fatalf("proxy mode has %d rules, direct %d: want exactly one more", len(proxy), len(direct))
	}
	for _, v := range []string{"get", "create", "patch"} {
		if !Allows(proxy, "", "services/proxy", v) || Allows(direct, "", "services/proxy", v) {
			t.Errorf("services/proxy %s: want it in proxy mode only", v)
		}
	}
	for _, r := range ProviderPermissions() {
		if r.Why == "" {
			t.Errorf("rule %v does not say why", r.PolicyRule)
		}
		for _, v := range r.Verbs {
			if v == "*" || v == "bind" || v == "escalate" || v == "impersonate" {
				t.Errorf("rule %v grants %s", r.PolicyRule, v)
			}
		}
	}
}

func TestWithoutPermission(t *testing.T) {
	rules := ProviderRules(false)
	less := WithoutPermission(rules, "rbac.authorization.k8s.io", "roles", "create")
	if Allows(less, "rbac.authorization.k8s.io", "roles", "create") {
		t.Error("roles create still allowed")
	}
	for _, keep := range []struct{ group, resource, verb string }{
		{"rbac.authorization.k8s.io", "roles", "get"},
		{"rbac.authorization.k8s.io", "rolebindings", "create"},
		{"apps", "deployments", "create"},
	} {
		if !Allows(less, keep.group, keep.resource, keep.verb) {
			t.Errorf("%+v lost", keep)
		}
	}
	less = WithoutPermission(rules, "", "events", "create")
	for _, r := range less {
		if len(r.Verbs) == 0 {
			t.Errorf("empty rule left: %v", r)
		}
	}
	if len(less) != len(rules)-1 || Allows(less, "", "events", "create") {
		t.Errorf("without events create: %v", less)
	}
	if Allows([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}, ResourceNames: []string{"x"}}}, "", "pods", "list") {
		t.Error("a rule limited to resourceNames counts as allowing everything")
	}
}
