package acctest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// ProviderRoleRules is the Role the acceptance tests bind the provider to: the RBAC guide's
// Role for the flink_access mode ProviderConfig uses ("proxy" on the real node, else "direct").
func ProviderRoleRules() []rbacv1.PolicyRule { return kube.ProviderRules(NodeMode()) }

// ProviderIdentity is a Kubernetes identity to run the provider as, the way the RBAC guide
// sets one up: ServiceAccount kube.ProviderRoleName in Namespace, bound in every namespace
// it was granted to a Role of that name, and a kubeconfig with a token for it.
type ProviderIdentity struct {
	Namespace      string
	ServiceAccount string
	// Kubeconfig is the path of a kubeconfig for the identity; its token was minted with the
	// TokenRequest API and lasts tokenLifetime.
	Kubeconfig string
}

// Username is the identity's user name as the API server sees it.
func (id *ProviderIdentity) Username() string {
	return "system:serviceaccount:" + id.Namespace + ":" + id.ServiceAccount
}

// Long enough for the slowest acceptance run (40m) and a demo kept running for a day.
const tokenLifetime = 24 * time.Hour

// NewProviderIdentity creates ServiceAccount kube.ProviderRoleName in ns, grants it rules
// there (GrantProvider) and writes a kubeconfig with a token for it.
func (s *Stack) NewProviderIdentity(ctx context.Context, ns string, rules []rbacv1.PolicyRule) (*ProviderIdentity, error) {
	id := &ProviderIdentity{Namespace: ns, ServiceAccount: kube.ProviderRoleName}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: id.ServiceAccount, Namespace: ns}}
	if _, err := s.kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("acctest: create ServiceAccount %s/%s: %w", ns, id.ServiceAccount, err)
	}
	if err := s.GrantProvider(ctx, id, ns, rules); err != nil {
		return nil, err
	}
	seconds := int64(tokenLifetime / time.Second)
	tr, err := s.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, id.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("acctest: TokenRequest for ServiceAccount %s/%s: %w", ns, id.ServiceAccount, err)
	}
	id.Kubeconfig = filepath.Join(s.dir, "kubeconfig-"+ns+"-"+id.ServiceAccount)
	if err := writeTokenKubeconfig(id.Kubeconfig, s.cfg.Host, s.cfg.CAData, ns, id.Username(), tr.Status.Token); err != nil {
		return nil, err
	}
	return id, nil
}

// GrantProvider creates (or replaces) Role and RoleBinding kube.ProviderRoleName in ns,
// binding id to rules there, and waits until the API server's authorizer has caught up: it
// allows every permission in rules and no longer allows those the Role loses.
func (s *Stack) GrantProvider(ctx context.Context, id *ProviderIdentity, ns string, rules []rbacv1.PolicyRule) error {
	if len(rules) == 0 {
		return fmt.Errorf("acctest: no rules to grant %s in %s", id.Username(), ns)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: kube.ProviderRoleName, Namespace: ns}, Rules: rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: kube.ProviderRoleName, Namespace: ns},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: id.ServiceAccount, Namespace: id.Namespace}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: kube.ProviderRoleName},
	}
	roles, bindings := s.kube.RbacV1().Roles(ns), s.kube.RbacV1().RoleBindings(ns)
	var lost []permission
	if old, err := roles.Get(ctx, role.Name, metav1.GetOptions{}); err == nil {
		for _, p := range permissionsOf(old.Rules) {
			if !kube.Allows(rules, p.group, p.resource, p.verb) {
				lost = append(lost, p)
			}
		}
		role.ResourceVersion = old.ResourceVersion
		if _, err := roles.Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("acctest: update Role %s/%s: %w", ns, role.Name, err)
		}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("acctest: read Role %s/%s: %w", ns, role.Name, err)
	} else if _, err := roles.Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("acctest: create Role %s/%s: %w", ns, role.Name, err)
	}
	if _, err := bindings.Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("acctest: create RoleBinding %s/%s: %w", ns, binding.Name, err)
	}
	// The authorizer reads Roles and RoleBindings from informers, a moment behind.
	for _, w := range []struct {
		perms []permission
		allow bool
	}{{permissionsOf(rules), true}, {lost, false}} {
		for _, p := range w.perms {
			err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				allowed, err := s.allowed(ctx, id, ns, p)
				return allowed == w.allow, err
			})
			if err != nil {
				return fmt.Errorf("acctest: Role %s/%s: %s %s still allowed=%v for %s: %w", ns, role.Name, p.verb, p.resource, !w.allow, id.Username(), err)
			}
		}
	}
	return nil
}

// permission is one verb on one resource ("configmaps/finalizers") in one API group.
type permission struct{ group, resource, verb string }

func permissionsOf(rules []rbacv1.PolicyRule) []permission {
	var out []permission
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, permission{g, res, v})
				}
			}
		}
	}
	return out
}

// allowed asks the API server's authorizer whether id may do p in ns.
func (s *Stack) allowed(ctx context.Context, id *ProviderIdentity, ns string, p permission) (bool, error) {
	resource, sub, _ := strings.Cut(p.resource, "/")
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   id.Username(),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: p.verb, Group: p.group, Resource: resource, Subresource: sub,
		},
	}}
	got, err := s.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return got.Status.Allowed, nil
}

// writeTokenKubeconfig writes a kubeconfig for a bearer token, with ns as the context's
// namespace.
func writeTokenKubeconfig(path, host string, caData []byte, ns, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: caData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[user] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: user, Namespace: ns}
	cfg.CurrentContext = user
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("acctest: write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}
