package acctest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// asProvider is a client that authenticates with the kubeconfig the provider gets.
func asProvider(t *testing.T, id *ProviderIdentity) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", id.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// The provider's kubeconfig holds a ServiceAccount token the API server accepts, and RBAC
// confines it to the namespaces of its test.
func TestProviderIdentityIsConfined(t *testing.T) {
	ns := Namespace(t)
	id := ProviderIdentityFor(t)
	if id.Namespace != ns || KubeconfigPath(t) != id.Kubeconfig || id.Kubeconfig == AdminKubeconfigPath(t) {
		t.Fatalf("identity %+v for namespace %s", id, ns)
	}
	ctx := ctxFor(t)
	provider := asProvider(t, id)
	if _, err := provider.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list ConfigMaps in its namespace: %v", err)
	}
	second := Namespace(t)
	if _, err := provider.CoordinationV1().Leases(second).Get(ctx, "none", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get a Lease in the test's second namespace: %v, want NotFound (allowed, and there is none)", err)
	}
	other := uniqueName("acc-other", 5)
	if _, err := Kube(t).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Kube(t).CoreV1().Namespaces().Delete(context.Background(), other, metav1.DeleteOptions{}) })
	for what, call := range map[string]func() error{
		"list ConfigMaps in a namespace of no test": func() error {
			_, err := provider.CoreV1().ConfigMaps(other).List(ctx, metav1.ListOptions{})
			return err
		},
		"list Namespaces": func() error { _, err := provider.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); return err },
		"update a Secret (the provider's are immutable)": func() error {
			_, err := provider.CoreV1().Secrets(ns).Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.UpdateOptions{})
			return err
		},
		"list Secrets in a namespace of no test": func() error {
			_, err := provider.CoreV1().Secrets(other).List(ctx, metav1.ListOptions{})
			return err
		},
		"bind a ClusterRole": func() error {
			_, err := provider.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "admin"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: id.ServiceAccount, Namespace: ns}},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
}

// In flink_access mode "proxy" the provider reaches Flink through the API server's service
// proxy with GET, POST and PATCH; the proxy-mode Role allows exactly those and the
// direct-mode Role none. Nothing stands behind the Service (no endpoints controller runs),
// so an allowed request is answered by the proxy (404), not by the authorizer (403).
func TestProviderRoleServiceProxy(t *testing.T) {
	ctx := ctxFor(t)
	proxyNS := NamespaceWithRules(t, kube.ProviderRules(true))
	directNS := Namespace(t)
	id := ProviderIdentityFor(t)
	for _, ns := range []string{proxyNS, directNS} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: kube.RestServiceName("orders")},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "none"},
				Ports:    []corev1.ServicePort{{Name: kube.PortNameRest, Port: flinkconf.RestPort}},
			},
		}
		if _, err := Kube(t).CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	provider := asProvider(t, id)
	status := func(ns, method string) int {
		t.Helper()
		req := provider.CoreV1().RESTClient().Verb(method).Namespace(ns).Resource("services").
			Name(kube.RestServiceName("orders")+":"+kube.PortNameRest).SubResource("proxy").Suffix("jobs", "overview")
		if method != http.MethodGet {
			req = req.SetHeader("Content-Type", "application/json").Body([]byte("{}"))
		}
		var code int
		req.Do(ctx).StatusCode(&code)
		return code
	}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPatch} {
		if code := status(proxyNS, method); code == http.StatusForbidden || code == 0 {
			t.Errorf("%s through the service proxy with the proxy-mode Role: %d, want it past the authorizer", method, code)
		}
		if code := status(directNS, method); code != http.StatusForbidden {
			t.Errorf("%s through the service proxy with the direct-mode Role: %d, want 403", method, code)
		}
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		if code := status(proxyNS, method); code != http.StatusForbidden {
			t.Errorf("%s through the service proxy: %d, want 403 (the provider does not use it)", method, code)
		}
	}
}

// Kubernetes HA: the provider creates a ServiceAccount, Role and RoleBinding for each
// application's JobManager. RBAC escalation prevention lets it create that Role only
// because its own Role holds every permission in it.
func TestProviderRoleGrantsJobManagerHARole(t *testing.T) {
	ctx := ctxFor(t)
	ns := Namespace(t)
	lacking := NamespaceWithRules(t, kube.WithoutPermission(ProviderRoleRules(), "", "configmaps", "watch"))
	provider := asProvider(t, ProviderIdentityFor(t))
	name := "orders-jobmanager"
	create := func(ns string) error {
		if _, err := provider.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := provider.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: kube.JobManagerHARules()}, metav1.CreateOptions{}); err != nil {
			return err
		}
		_, err := provider.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		}, metav1.CreateOptions{})
		return err
	}
	if err := create(ns); err != nil {
		t.Fatalf("create the JobManager's ServiceAccount, Role and RoleBinding as the provider: %v", err)
	}
	if err := provider.RbacV1().Roles(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete the JobManager's Role: %v", err)
	}
	err := create(lacking)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not currently held") {
		t.Errorf("create a Role granting configmaps watch without holding it: %v, want Forbidden by escalation prevention", err)
	}
}
