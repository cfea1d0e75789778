// Package acctest is the acceptance-test harness the resource packages share (docs/design.md §7):
// a real kube-apiserver + etcd (envtest) and kube-controller-manager built by tools/install.sh,
// a test node agent that schedules pods and "runs" them (Flink pods as flinktest emulator
// clusters), and a forward proxy on loopback that stands in for cluster DNS so the provider's
// direct mode reaches http://<app>-rest.<namespace>.svc:8081 through HTTP_PROXY.
//
// A package with acceptance tests wires it in its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(acctest.Run(m)) }
//
// and its tests use Namespace, ProviderConfig, Kube and Emulator. Without TF_ACC nothing is
// started, and the helpers skip the calling test.
//
// The provider does not run as cluster-admin: each test gets a ServiceAccount bound, in every
// namespace Namespace creates for it, to the Role of the RBAC guide (kube.ProviderRules, the
// one source of docs/guides/rbac.md and examples/rbac), and ProviderConfig points the
// provider at a kubeconfig with a token for it. Kube, for the tests' own checks, stays
// cluster-admin.
package acctest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// LabelTest is set on the namespaces Namespace creates, with the (sanitised) test name.
const LabelTest = "acctest.flinkplatform.io/test"

var (
	mu      sync.Mutex
	current *Stack
)

// Run is for TestMain. With TF_ACC set it starts the stack once for the package, sets
// HTTP_PROXY/http_proxy, NO_PROXY/no_proxy and (unless set) TF_ACC_TERRAFORM_PATH in the
// process environment (before any HTTP client reads it: net/http caches the proxy settings on
// first use, so TestMain must not make HTTP requests before calling Run), runs the tests and tears the stack down; when tests fail it prints the
// tail of the component logs and keeps them. Without TF_ACC it only runs m.
func Run(m *testing.M) int {
	if os.Getenv("TF_ACC") == "" {
		return m.Run()
	}
	if NodeMode() && !InNodeNetns() {
		return RunInNodeNetns()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	s, err := StartStack(ctx, Options{SetEnv: true})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "acctest: cannot start the test cluster: %v\n", err)
		return 1
	}
	mu.Lock()
	current = s
	mu.Unlock()

	code := m.Run()

	stopSecondStack(code != 0)
	mu.Lock()
	current = nil
	mu.Unlock()
	if code != 0 {
		s.DumpLogs(os.Stderr, 60)
		if err := s.StopKeepLogs(); err != nil {
			fmt.Fprintf(os.Stderr, "acctest: stopping the test cluster: %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "acctest: logs kept in %s\n", s.Dir())
		return code
	}
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "acctest: stopping the test cluster: %v\n", err)
	}
	return code
}

// Current is the stack Run started for this package, nil outside Run or without TF_ACC.
func Current() *Stack {
	mu.Lock()
	defer mu.Unlock()
	return current
}

func stackFor(t testing.TB) *Stack {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 to run it against the test cluster (binaries from tools/install.sh)")
	}
	s := Current()
	if s == nil {
		t.Fatal("acctest: the test cluster is not running: call os.Exit(acctest.Run(m)) from the package's TestMain")
	}
	return s
}

// Kube is a cluster-admin client for the test cluster.
func Kube(t testing.TB) kubernetes.Interface {
	t.Helper()
	return stackFor(t).Kube()
}

// Emulator is the flinktest emulator the test cluster runs JobManager pods in.
func Emulator(t testing.TB) *flinktest.Emulator {
	t.Helper()
	e := stackFor(t).Emulator()
	if e == nil {
		t.Skip("acctest: this test needs the flinktest emulator, and the test cluster runs real Flink (FLINK_RUNTIME=real)")
	}
	return e
}

// KubeconfigPath is the kubeconfig ProviderConfig gives the provider: the test's provider
// identity (see ProviderIdentityFor).
func KubeconfigPath(t testing.TB) string {
	t.Helper()
	return ProviderIdentityFor(t).Kubeconfig
}

// AdminKubeconfigPath is a kubeconfig file for the cluster-admin user of the test cluster.
func AdminKubeconfigPath(t testing.TB) string {
	t.Helper()
	return stackFor(t).KubeconfigPath()
}

var (
	identitiesMu sync.Mutex
	identities   = map[string]*ProviderIdentity{} // by test name
)

// identityOf is the provider identity of the test named name or of its closest parent test.
func identityOf(name string) *ProviderIdentity {
	identitiesMu.Lock()
	defer identitiesMu.Unlock()
	for {
		if id := identities[name]; id != nil {
			return id
		}
		i := strings.LastIndex(name, "/")
		if i < 0 {
			return nil
		}
		name = name[:i]
	}
}

// ProviderIdentityFor is the identity the provider runs as in test t: created with t's (or
// a parent test's) first Namespace, and bound to the provider's Role in every namespace
// created for the test since. A test that has no namespace yet gets one.
func ProviderIdentityFor(t testing.TB) *ProviderIdentity {
	t.Helper()
	if id := identityOf(t.Name()); id != nil {
		return id
	}
	Namespace(t)
	return identityOf(t.Name())
}

// Namespace creates a namespace with a fresh name derived from the test's, binds the test's
// provider identity to the provider's Role (ProviderRoleRules) in it, and deletes it (with
// everything in it) when the test ends.
func Namespace(t testing.TB) string {
	t.Helper()
	return namespace(t, ProviderRoleRules())
}

// NamespaceWithRules is Namespace with the provider's Role in the namespace made of rules
// instead: a test shows what the provider says when a permission is missing.
func NamespaceWithRules(t testing.TB, rules []rbacv1.PolicyRule) string {
	t.Helper()
	return namespace(t, rules)
}

// GrantProvider replaces the provider's Role in namespace ns of the test with rules: a test
// takes a permission away, or gives it back.
func GrantProvider(t testing.TB, ns string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := stackFor(t).GrantProvider(ctx, ProviderIdentityFor(t), ns, rules); err != nil {
		t.Fatal(err)
	}
}

func namespace(t testing.TB, rules []rbacv1.PolicyRule) string {
	t.Helper()
	s := stackFor(t)
	kube := s.Kube()
	base := sanitizeName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		name := uniqueName("acc-"+base, 5)
		_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{LabelTest: truncate(base, 63)},
		}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && attempt < 5 {
			continue
		}
		if err != nil {
			t.Fatalf("acctest: create namespace %s: %v", name, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("acctest: delete namespace %s: %v", name, err)
			}
		})
		if id := identityOf(t.Name()); id != nil {
			if err := s.GrantProvider(ctx, id, name, rules); err != nil {
				t.Fatal(err)
			}
			return name
		}
		id, err := s.NewProviderIdentity(ctx, name, rules)
		if err != nil {
			t.Fatal(err)
		}
		identitiesMu.Lock()
		identities[t.Name()] = id
		identitiesMu.Unlock()
		t.Cleanup(func() {
			identitiesMu.Lock()
			delete(identities, t.Name())
			identitiesMu.Unlock()
		})
		return name
	}
}

// ProviderConfig is the provider block that points the provider at the test cluster as the
// test's provider identity (KubeconfigPath), reaching Flink in direct mode through the
// harness proxy (on the real node: through the API server's service proxy), with snapshots
// in StorageURL.
func ProviderConfig(t testing.TB) string {
	t.Helper()
	return providerConfig(t, "")
}

// ProviderConfigThrough is ProviderConfig with the Flink REST calls sent through the HTTP
// proxy at proxyURL instead (flink_access.proxy_url): a test puts something in front of
// the JobManagers that way.
func ProviderConfigThrough(t testing.TB, proxyURL string) string {
	t.Helper()
	return providerConfig(t, "proxy_url    = "+hclString(proxyURL))
}

func providerConfig(t testing.TB, accessExtra string) string {
	t.Helper()
	access := directAccess + accessExtra
	if stackFor(t).node != nil && accessExtra == "" {
		// The provider's default access mode, through the API server's service proxy, as on
		// a cluster the provider runs outside of.
		access = `mode = "proxy"`
	}
	return providerBlock("flink", StorageURL(t), KubeconfigPath(t), access)
}

// directAccess is flink_access through the cluster's DNS names ({name}-rest.{namespace}.svc),
// which the stack's proxy resolves, with extra settings.
const directAccess = `mode         = "direct"
    url_template = "http://{name}-rest.{namespace}.svc:8081"
    `

// providerBlock is the configuration of provider name with the given storage, kubeconfig and
// flink_access settings.
func providerBlock(name, storageURL, kubeconfig, access string) string {
	return fmt.Sprintf(`
provider %s {
  snapshot_storage_url = %s
  kubernetes {
    config_path = %s
  }
  flink_access {
    %s
  }
}
`, hclString(name), hclString(storageURL), hclString(kubeconfig), access)
}

// SnapshotDir is the local directory behind the provider's snapshot_storage_url: emulated
// JobManagers write savepoints there, and the provider's snapshot store reads them.
func SnapshotDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(stackFor(t).Dir(), "snapshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("acctest: %v", err)
	}
	return dir
}

// hclString quotes s as an HCL string literal (no interpolation).
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// sanitizeName turns a test name into a DNS-1123 label fragment of at most 40 characters.
func sanitizeName(name string) string {
	s := nonDNS.ReplaceAllString(strings.ToLower(name), "-")
	s = strings.Trim(truncate(strings.Trim(s, "-"), 40), "-")
	if s == "" {
		s = "test"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return strings.TrimRight(s[:n], "-")
	}
	return s
}

// uniqueName appends n random lower-case alphanumerics to prefix.
func uniqueName(prefix string, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + "-" + string(b)
}
