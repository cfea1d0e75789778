package kube

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/auth/rbac/validation"
	"sigs.k8s.io/yaml"
)

// The API server lets the provider create the JobManager's Role (and bind it) only if the
// provider holds every permission in it: RBAC escalation prevention.
func TestProviderRulesHoldJobManagerHARules(t *testing.T) {
	for _, proxy := range []bool{false, true} {
		if ok, missing := validation.Covers(ProviderRules(proxy), JobManagerHARules()); !ok {
			t.Errorf("ProviderRules(%v) lacks %+v, which the JobManager's Role grants", proxy, missing)
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

// The RBAC guide's examples (written by tools/rbacgen) grant exactly ProviderRules, and
// the guide shows them as they are.
func TestRBACExamplesAreTheProviderRole(t *testing.T) {
	root := filepath.Join("..", "..")
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatalf("%v (run make docs)", err)
		}
		return string(b)
	}
	manifest, hcl, guide := read("examples/rbac/role.yaml"), read("examples/rbac/main.tf"), read(RBACGuide)

	t.Run("role.yaml", func(t *testing.T) {
		kinds := map[string]bool{}
		for _, doc := range strings.Split(manifest, "\n---\n") {
			var obj struct {
				APIVersion string              `json:"apiVersion"`
				Kind       string              `json:"kind"`
				Metadata   metav1.ObjectMeta   `json:"metadata"`
				Rules      []rbacv1.PolicyRule `json:"rules"`
				Subjects   []rbacv1.Subject    `json:"subjects"`
				RoleRef    rbacv1.RoleRef      `json:"roleRef"`
			}
			if err := yaml.UnmarshalStrict([]byte(doc), &obj); err != nil {
				t.Fatalf("%v in\n%s", err, doc)
			}
			kinds[obj.Kind] = true
			wantAPI := rbacv1.SchemeGroupVersion.String()
			if obj.Kind == "ServiceAccount" {
				wantAPI = "v1"
			}
			if obj.APIVersion != wantAPI {
				t.Errorf("%s has apiVersion %q", obj.Kind, obj.APIVersion)
			}
			if obj.Metadata.Name != ProviderRoleName {
				t.Errorf("%s named %q", obj.Kind, obj.Metadata.Name)
			}
			switch obj.Kind {
			case "Role":
				if !reflect.DeepEqual(obj.Rules, ProviderRules(true)) {
					t.Errorf("Role rules\n%v\nwant ProviderRules(true)\n%v", obj.Rules, ProviderRules(true))
				}
			case "RoleBinding":
				want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: ProviderRoleName}}
				if !reflect.DeepEqual(obj.Subjects, want) || obj.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ProviderRoleName}) {
					t.Errorf("RoleBinding %v -> %v", obj.Subjects, obj.RoleRef)
				}
			}
		}
		if len(kinds) != 3 || !kinds["ServiceAccount"] || !kinds["Role"] || !kinds["RoleBinding"] {
			t.Errorf("kinds %v, want a ServiceAccount, a Role and a RoleBinding", kinds)
		}
	})

	t.Run("main.tf", func(t *testing.T) {
		rules, proxyOnly := hclRoleRules(t, hcl)
		if !reflect.DeepEqual(rules, ProviderRules(true)) {
			t.Errorf("kubernetes_role rules\n%v\nwant ProviderRules(true)\n%v", rules, ProviderRules(true))
		}
		var want []int
		for i, r := range ProviderPermissions() {
			if r.ServiceProxyOnly {
				want = append(want, i)
			}
		}
		if !reflect.DeepEqual(proxyOnly, want) {
			t.Errorf("rules only for mode proxy: %v, want %v", proxyOnly, want)
		}
	})

	t.Run("guide", func(t *testing.T) {
		for name, content := range map[string]string{"role.yaml": "```yaml\n" + manifest + "```", "main.tf": "```terraform\n" + hcl + "```"} {
			if !strings.Contains(guide, content) {
				t.Errorf("%s does not show examples/rbac/%s as it is (run make docs)", RBACGuide, name)
			}
		}
	})
}

// hclRoleRules reads the rule blocks of resource "kubernetes_role" in src, and the indexes
// of those that are dynamic (only with flink_access mode "proxy").
func hclRoleRules(t *testing.T, src string) ([]rbacv1.PolicyRule, []int) {
	t.Helper()
	file, diags := hclsyntax.ParseConfig([]byte(src), "main.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	strs := func(body *hclsyntax.Body, name string) []string {
		attr := body.Attributes[name]
		if attr == nil {
			t.Fatalf("rule without %s", name)
		}
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var out []string
		for _, e := range v.AsValueSlice() {
			out = append(out, e.AsString())
		}
		return out
	}
	var rules []rbacv1.PolicyRule
	var dynamic []int
	for _, block := range file.Body.(*hclsyntax.Body).Blocks {
		if block.Type != "resource" || block.Labels[0] != "kubernetes_role" {
			continue
		}
		for _, b := range block.Body.Blocks {
			body := b.Body
			switch {
			case b.Type == "rule":
			case b.Type == "dynamic" && b.Labels[0] == "rule" && len(b.Body.Blocks) == 1 && b.Body.Blocks[0].Type == "content":
				body = b.Body.Blocks[0].Body
				dynamic = append(dynamic, len(rules))
			default:
				continue
			}
			rules = append(rules, rbacv1.PolicyRule{APIGroups: strs(body, "api_groups"), Resources: strs(body, "resources"), Verbs: strs(body, "verbs")})
		}
	}
	return rules, dynamic
}
