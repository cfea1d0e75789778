// Command rbacgen writes the RBAC guide's examples, examples/rbac/role.yaml and
// examples/rbac/main.tf, from the provider's Role in internal/kube/rbac.go, so that the
// guide, the examples and the identity the acceptance tests run the provider as are one
// Role. `make docs` runs it (go generate) before tfplugindocs.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

func main() {
	dir := flag.String("dir", "examples/rbac", "where to write role.yaml and main.tf")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	for name, content := range map[string]string{"role.yaml": YAML(), "main.tf": HCL()} {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

const generated = "Generated from internal/kube/rbac.go by `make docs`: change the Role there."

// YAML is the ServiceAccount, Role and RoleBinding as a manifest for kubectl apply -n.
func YAML() string {
	var b strings.Builder
	comment(&b, "", "The least-privilege identity of terraform-provider-flink in one namespace (see docs/guides/rbac.md). "+generated)
	comment(&b, "", "Apply it in every namespace the provider manages applications in:")
	b.WriteString("#   kubectl apply -n <namespace> -f examples/rbac/role.yaml\n")
	fmt.Fprintf(&b, `apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: %[1]s
rules:
`, kube.ProviderRoleName)
	for _, r := range kube.ProviderPermissions() {
		why := r.Why
		if r.ServiceProxyOnly {
			why += " Remove this rule with mode \"direct\"."
		}
		comment(&b, "  ", why)
		fmt.Fprintf(&b, "  - apiGroups: %s\n    resources: %s\n    verbs: %s\n", list(r.APIGroups), list(r.Resources), list(r.Verbs))
	}
	fmt.Fprintf(&b, `---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: %[1]s
subjects:
  # A ServiceAccount of another namespace works too: add its namespace here.
  - kind: ServiceAccount
    name: %[1]s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: %[1]s
`, kube.ProviderRoleName)
	return b.String()
}

// HCL is the same with the Kubernetes provider's resources.
func HCL() string {
	var b strings.Builder
	comment(&b, "", "The least-privilege identity of terraform-provider-flink in one namespace, managed with the "+
		"Kubernetes provider (see docs/guides/rbac.md). "+generated)
	fmt.Fprintf(&b, `
terraform {
  required_providers {
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
  }
}

variable "namespace" {
  type        = string
  description = "A namespace the flink provider manages applications in."
}

variable "flink_access_mode" {
  type        = string
  default     = "proxy"
  description = "The flink provider's flink_access mode: \"proxy\" (the default) needs the services/proxy rule, \"direct\" does not."
}

resource "kubernetes_service_account" "flink_provider" {
  metadata {
    name      = %[1]q
    namespace = var.namespace
  }
}

resource "kubernetes_role" "flink_provider" {
  metadata {
    name      = %[1]q
    namespace = var.namespace
  }
`, kube.ProviderRoleName)
	for _, r := range kube.ProviderPermissions() {
		b.WriteString("\n")
		comment(&b, "  ", r.Why)
		indent := "  "
		if r.ServiceProxyOnly {
			b.WriteString("  dynamic \"rule\" {\n    for_each = var.flink_access_mode == \"proxy\" ? [1] : []\n    content {\n")
			indent = "    "
		} else {
			b.WriteString("  rule {\n")
		}
		fmt.Fprintf(&b, "%[1]s  api_groups = %[2]s\n%[1]s  resources  = %[3]s\n%[1]s  verbs      = %[4]s\n", indent, list(r.APIGroups), list(r.Resources), list(r.Verbs))
		if r.ServiceProxyOnly {
			b.WriteString("    }\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString(`}

resource "kubernetes_role_binding" "flink_provider" {
  metadata {
    name      = kubernetes_role.flink_provider.metadata[0].name
    namespace = var.namespace
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role.flink_provider.metadata[0].name
  }
  subject {
    kind      = "ServiceAccount"
    name      = kubernetes_service_account.flink_provider.metadata[0].name
    namespace = var.namespace
  }
}
`)
	return b.String()
}

// list is a flow sequence that is valid YAML and HCL alike: ["get", "list"].
func list(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// comment writes text as # comment lines of at most about 100 columns.
func comment(b *strings.Builder, indent, text string) {
	line := indent + "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 100 && line != indent+"#" {
			b.WriteString(line + "\n")
			line = indent + "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}
