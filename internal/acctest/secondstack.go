package acctest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A second test cluster, for what spans two clusters (migration, disaster recovery): its own
// etcd, kube-apiserver, kube-controller-manager, node agent, emulated JobManagers, proxy and
// snapshot storage, all on loopback. Started on first use, stopped by Run.
var (
	secondMu  sync.Mutex
	second    *Stack
	secondErr error
)

// SecondStack is the package's second test cluster. It runs what the first one runs:
// emulated JobManagers, or real Flink processes (FLINK_RUNTIME=real). There is one real node
// per machine, so with FLINK_RUNTIME=node the test is skipped.
func SecondStack(t testing.TB) *Stack {
	t.Helper()
	first := stackFor(t)
	if first.Node() != nil {
		t.Skip("acctest: a second cluster needs a second node, and one machine runs one real node; this test runs with FLINK_RUNTIME=real or the emulator")
	}
	secondMu.Lock()
	defer secondMu.Unlock()
	if second == nil && secondErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var runtime Runtime = NewEmulatorRuntime(nil)
		if first.RealFlink() {
			runtime, secondErr = NewProcessRuntime(ProcessRuntimeOptions{})
		}
		if secondErr == nil {
			second, secondErr = StartStack(ctx, Options{Runtime: runtime})
		}
	}
	if secondErr != nil {
		t.Fatalf("acctest: cannot start the second test cluster: %v", secondErr)
	}
	return second
}

// stopSecondStack stops the second cluster if a test started it; keep leaves its logs.
func stopSecondStack(keep bool) {
	secondMu.Lock()
	defer secondMu.Unlock()
	if second == nil {
		return
	}
	stop := second.Stop
	if keep {
		second.DumpLogs(os.Stderr, 30)
		stop = second.StopKeepLogs
		fmt.Fprintf(os.Stderr, "acctest: second cluster's logs kept in %s\n", second.Dir())
	}
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "acctest: stopping the second test cluster: %v\n", err)
	}
	second = nil
}

// HTTPClient reaches the services of stack s (its JobManagers' REST APIs) through its proxy.
func (s *Stack) HTTPClient() *http.Client {
	proxy, _ := url.Parse(s.ProxyURL())
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 30 * time.Second}
}

// ProviderConfigNamed is the configuration of provider name (a local name served by a
// provider server of its own, see providertest.TwoClusterFactories) for stack s (the second
// cluster): its admin kubeconfig, snapshot storage in its own directory (StorageURLOf), and
// Flink REST calls through its own proxy.
func (s *Stack) ProviderConfigNamed(t testing.TB, name string) string {
	t.Helper()
	return providerBlock(name, s.StorageURLOf(t), s.KubeconfigPath(), directAccess+"proxy_url    = "+hclString(s.ProxyURL()))
}

// StorageURLOf is the snapshot storage of stack s: a directory of its own.
func (s *Stack) StorageURLOf(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(s.Dir(), "snapshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("acctest: %v", err)
	}
	return "file://" + dir
}

// CreateNamespace creates namespace ns in stack s (the first cluster's Namespace made it
// there), deleted when the test ends.
func (s *Stack) CreateNamespace(t testing.TB, ns string) {
	t.Helper()
	_, err := s.Kube().CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("acctest: namespace %s in %s: %v", ns, s.Dir(), err)
	}
	t.Cleanup(func() {
		_ = s.Kube().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
}
