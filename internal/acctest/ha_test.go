package acctest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func TestExpandVarsLikeKubernetes(t *testing.T) {
	vars := map[string]string{"POD_IP": "10.0.0.7", "A": "x"}
	for in, want := range map[string]string{
		"-Djobmanager.rpc.address=$(POD_IP)": "-Djobmanager.rpc.address=10.0.0.7",
		"$(A)$(A)":                           "xx",
		"$(UNKNOWN)":                         "$(UNKNOWN)",
		"$$(A)":                              "$(A)",
		"cost $5":                            "cost $5",
		"$(A":                                "$(A",
		"end$":                               "end$",
	} {
		if got := expandVars(in, vars); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}

// haPod is a pod made from the rendered HA JobManager Deployment of app "rbac"; it runs
// nothing Flink (its args are replaced), so the agent only binds and reports it.
func haPod(t *testing.T, ctx context.Context, kc kubernetes.Interface, ns string, automount *bool) (*corev1.Pod, kube.Objects) {
	t.Helper()
	v := spec.Version{Namespace: ns, Application: "rbac", Label: "v1", Image: "flink:1.20-java17", EntryClass: "x.Y",
		FlinkVersion: "1.20", Parallelism: 1, JobManager: spec.JobManager{CPU: 1, Memory: "1g"}, TaskManager: spec.TaskManager{CPU: 1, Memory: "1g"}}
	objs, err := kube.Render(spec.Deployment{Namespace: ns, Application: "rbac", Version: v, JobID: strings.Repeat("a", 32),
		HA:        &spec.HighAvailability{ClusterID: kube.HAClusterID("rbac", 1), StorageDir: "file:///tmp/ha"},
		Suspended: true}, nil) // no pods of its own: the test starts one from the template
	if err != nil {
		t.Fatal(err)
	}
	if err := (&kube.Client{Kube: kc}).Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	jm, err := kc.AppsV1().Deployments(ns).Get(ctx, kube.JobManagerDeploymentName("rbac"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := *jm.Spec.Template.Spec.DeepCopy()
	ps.Containers[0].Args = append([]string{"sleep"}, ps.Containers[0].Args[1:]...)
	if automount != nil {
		ps.AutomountServiceAccountToken = automount
	}
	pod, err := kc.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "rbac-", Labels: map[string]string{"t": "ha"}},
		Spec: ps}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod, objs
}

// TestPodServiceAccountTokenIsBoundAndRBACEnforced: the agent mounts what a kubelet would for
// a pod running as the rendered HA ServiceAccount (the API server's address, a TokenRequest
// token bound to the pod, the CA), expands $(POD_IP) in its arguments; the token can do with
// ConfigMaps what Flink's HA does and nothing else, and loses that when the RoleBinding goes:
// the API server enforces RBAC, so a permission missing from the rendered Role would fail.
func TestPodServiceAccountTokenIsBoundAndRBACEnforced(t *testing.T) {
	s := stackFor(t)
	ctx := ctxFor(t)
	ns := Namespace(t)
	pod, _ := haPod(t, ctx, s.Kube(), ns, nil)

	run, dir, err := s.agent.podEnvironment(ctx, pod)
	if err != nil {
		t.Fatalf("podEnvironment: %v", err)
	}
	c := FlinkContainer(run)
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("env %s not resolved", e.Name)
		}
		env[e.Name] = e.Value
	}
	if env["POD_IP"] != "127.0.0.1" || env["KUBERNETES_SERVICE_HOST"] != "127.0.0.1" || env["KUBERNETES_SERVICE_PORT"] == "" {
		t.Errorf("env %v", env)
	}
	if !reflect.DeepEqual(c.Args[:2], []string{"sleep", "-Djobmanager.rpc.address=127.0.0.1"}) {
		t.Errorf("args not expanded: %q", c.Args)
	}
	if dir == "" {
		t.Fatal("no token mounted for a pod with a ServiceAccount")
	}
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if nsFile, _ := os.ReadFile(filepath.Join(dir, "namespace")); string(nsFile) != ns {
		t.Errorf("namespace file %q", nsFile)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	asPod, err := kubernetes.NewForConfig(&rest.Config{
		Host:            "https://" + env["KUBERNETES_SERVICE_HOST"] + ":" + env["KUBERNETES_SERVICE_PORT"],
		BearerToken:     string(token),
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
	})
	if err != nil {
		t.Fatal(err)
	}

	cms := asPod.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rbac-g1-cluster-config-map"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a ConfigMap with the pod's token: %v", err)
	}
	cm.Data = map[string]string{"k": "v"}
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update: %v", err)
	}
	if _, err := cms.Patch(ctx, cm.Name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"a":"b"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("patch: %v", err)
	}
	if _, err := cms.List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list: %v", err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("watch: %v", err)
	} else {
		w.Stop()
	}
	if err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := asPod.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets with the pod's token: %v, want forbidden", err)
	}
	if _, err := asPod.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing Leases with the pod's token: %v, want forbidden (Flink's HA locks are ConfigMaps)", err)
	}
	if err := s.Kube().RbacV1().RoleBindings(ns).Delete(ctx, kube.HARoleName("rbac"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "ConfigMaps forbidden without the RoleBinding", func() (bool, string) {
		_, err := cms.List(ctx, metav1.ListOptions{})
		return apierrors.IsForbidden(err), errString(err)
	})

	// The token is bound to the pod: deleting the pod revokes it.
	zero := int64(0)
	if err := s.Kube().CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the token is revoked with its pod", func() (bool, string) {
		_, err := cms.List(ctx, metav1.ListOptions{})
		return apierrors.IsUnauthorized(err), errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestPodTokenMountFollowsAutomountAndWaitsForItsServiceAccount: no token when the pod opts
// out; a pod whose ServiceAccount does not exist yet waits (errRetry), as a kubelet keeps it
// in ContainerCreating.
func TestPodTokenMountFollowsAutomountAndWaitsForItsServiceAccount(t *testing.T) {
	s := stackFor(t)
	ctx := ctxFor(t)
	ns := Namespace(t)
	no := false
	pod, _ := haPod(t, ctx, s.Kube(), ns, &no)
	if _, dir, err := s.agent.podEnvironment(ctx, pod); err != nil || dir != "" {
		t.Errorf("automountServiceAccountToken false: dir %q, err %v", dir, err)
	}
	if err := s.Kube().CoreV1().ServiceAccounts(ns).Delete(ctx, kube.ServiceAccountName("rbac"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pod.Spec.AutomountServiceAccountToken = nil
	if _, _, err := s.agent.podEnvironment(ctx, pod); !errors.Is(err, errRetry) {
		t.Errorf("missing ServiceAccount: err %v, want errRetry", err)
	}
}
