package acctest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// eventually polls cond until it holds or the timeout passes; cond returns a description of
// what it saw, for the failure message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func deployment(name string, replicas int32, labels map[string]string, spec corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

func podsOf(t *testing.T, kube kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	list, err := kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestDeploymentPodsRunAndBecomeAvailable(t *testing.T) {
	kube := Kube(t)
	ns := Namespace(t)
	ctx := ctxFor(t)
	labels := map[string]string{"app": "web"}
	d := deployment("web", 2, labels, corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}})
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "deployment available", func() (bool, string) {
		d, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := d.Status
		return s.AvailableReplicas == 2 && s.ReadyReplicas == 2 && s.UpdatedReplicas == 2 && s.ObservedGeneration == d.Generation,
			fmt.Sprintf("%+v", s)
	})
	pods := podsOf(t, kube, ns, "app=web")
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2", len(pods))
	}
	for _, p := range pods {
		if p.Spec.NodeName != DefaultNodeName || p.Status.Phase != corev1.PodRunning || p.Status.PodIP != "127.0.0.1" ||
			!podRunningReady(&p) || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
			t.Errorf("pod %s: node %q phase %s ip %q status %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP, p.Status)
		}
	}
	node, err := kube.CoreV1().Nodes().Get(ctx, DefaultNodeName, metav1.GetOptions{})
	if err != nil || !nodeReady(node) || node.Status.Allocatable.Cpu().IsZero() {
		t.Errorf("node: %v %+v", err, node)
	}
}

func TestForegroundDeletionRemovesPods(t *testing.T) {
	kube := Kube(t)
	ns := Namespace(t)
	ctx := ctxFor(t)
	labels := map[string]string{"app": "gc"}
	d := deployment("gc", 2, labels, corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}})
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "2 pods running", func() (bool, string) {
		running := 0
		for _, p := range podsOf(t, kube, ns, "app=gc") {
			if podRunningReady(&p) {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d running", running)
	})
	fg := metav1.DeletePropagationForeground
	if err := kube.AppsV1().Deployments(ns).Delete(ctx, "gc", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "deployment, replicasets and pods gone", func() (bool, string) {
		_, err := kube.AppsV1().Deployments(ns).Get(ctx, "gc", metav1.GetOptions{})
		rs, _ := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=gc"})
		pods := podsOf(t, kube, ns, "app=gc")
		return apierrors.IsNotFound(err) && len(rs.Items) == 0 && len(pods) == 0,
			fmt.Sprintf("deployment err=%v, %d replicasets, %d pods", err, len(rs.Items), len(pods))
	})
}

func TestNamespaceCleanup(t *testing.T) {
	kube := Kube(t)
	var ns string
	t.Run("inner", func(t *testing.T) {
		ns = Namespace(t)
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "x"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if len(ns) > 63 || !strings.HasPrefix(ns, "acc-testnamespacecleanup-inner-") {
			t.Errorf("namespace name %q", ns)
		}
	})
	// The namespace controller empties the namespace and removes it.
	eventually(t, time.Minute, "namespace "+ns+" deleted", func() (bool, string) {
		n, err := kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("phase %s", n.Status.Phase)
	})
}

// flinkAppObjects renders a ConfigMap and JobManager/TaskManager pod templates the way a
// standalone application cluster is laid out (docs/design.md §3).
func flinkConfigMap(app string, conf string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-config", Labels: map[string]string{LabelAppName: app}},
		Data:       map[string]string{"config.yaml": conf, "log4j-console.properties": "rootLogger.level = INFO\n"},
	}
}

func flinkPodSpec(app string, args ...string) corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: FlinkContainerName, Image: "flink:1.20.1-scala_2.12-java17", Args: args,
			VolumeMounts: []corev1.VolumeMount{{Name: "flink-config-volume", MountPath: FlinkConfDir}},
		}},
		Volumes: []corev1.Volume{{Name: "flink-config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"},
			Items: []corev1.KeyToPath{
				{Key: "config.yaml", Path: "config.yaml"},
				{Key: "log4j-console.properties", Path: "log4j-console.properties"},
			},
		}}}},
	}
}

func flinkLabels(app, component string) map[string]string {
	return map[string]string{LabelAppName: app, LabelComponent: component, "flink.flinkplatform.io/version": "v1"}
}

// getViaProxy does a GET through the process's HTTP_PROXY, as the provider does in direct mode.
func getViaProxy(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// running reports whether the job and all its tasks are RUNNING.
func running(c *flinktest.Cluster) bool {
	if c.JobState() != "RUNNING" {
		return false
	}
	for _, st := range c.VertexStates() {
		if st != "RUNNING" {
			return false
		}
	}
	return true
}

func TestJobManagerPodRunsEmulatorCluster(t *testing.T) {
	kube := Kube(t)
	emu := Emulator(t)
	ns := Namespace(t)
	ctx := ctxFor(t)
	const app, jobID = "orders", "0000000000000000000000000000abcd"
	host := RestHost(app, ns)

	if proxy := os.Getenv("HTTP_PROXY"); !strings.HasPrefix(proxy, "http://127.0.0.1:") || !strings.Contains(os.Getenv("NO_PROXY"), "127.0.0.1") {
		t.Fatalf("HTTP_PROXY=%q NO_PROXY=%q", proxy, os.Getenv("NO_PROXY"))
	}

	// The JobManager pod comes first; its ConfigMap a moment later (the pod waits for it).
	jm := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-jobmanager", Labels: flinkLabels(app, ComponentJobManager)},
		Spec: flinkPodSpec(app, "standalone-job", "--job-classname", "com.example.Orders", "--job-id", jobID,
			"--jars", "local:///opt/flink/usrlib/orders.jar", "--topic", "orders"),
	}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, jm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if p, err := kube.CoreV1().Pods(ns).Get(ctx, jm.Name, metav1.GetOptions{}); err != nil || p.Status.Phase == corev1.PodRunning {
		t.Fatalf("JobManager pod running without its ConfigMap: %v %s", err, p.Status.Phase)
	}
	cm := flinkConfigMap(app, "parallelism.default: 2\ntaskmanager.numberOfTaskSlots: 1\nstate.savepoints.dir: file:///tmp/savepoints\n")
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "JobManager pod running", func() (bool, string) {
		p, err := kube.CoreV1().Pods(ns).Get(ctx, jm.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return podRunningReady(p), fmt.Sprintf("%s %s", p.Status.Phase, p.Status.Message)
	})
	if emu.Cluster(host) == nil {
		t.Fatalf("no emulator cluster for %s", host)
	}

	// Reachable through the proxy under both service host spellings, with the job from the args.
	for _, url := range []string{"http://" + host + ":8081/jobs/overview", "http://" + host + ".cluster.local:8081/jobs/overview"} {
		code, body := getViaProxy(t, url)
		if code != http.StatusOK || !strings.Contains(body, jobID) {
			t.Fatalf("GET %s: %d %s", url, code, body)
		}
	}
	// Without TaskManagers the job's tasks wait for slots.
	if running(emu.Cluster(host)) {
		t.Errorf("tasks RUNNING without TaskManagers: %v", emu.Cluster(host).VertexStates())
	}

	// Two TaskManagers of one slot each give the job its parallelism of 2.
	tms := deployment(app+"-taskmanager", 2, flinkLabels(app, ComponentTaskManager), flinkPodSpec(app, "taskmanager"))
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, tms, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "job and tasks RUNNING", func() (bool, string) {
		c := emu.Cluster(host)
		if c == nil {
			return false, "cluster gone"
		}
		return running(c), fmt.Sprintf("%s %v", c.JobState(), c.VertexStates())
	})
	code, body := getViaProxy(t, "http://"+host+":8081/jobs/"+jobID)
	var job struct {
		JID   string `json:"jid"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(body), &job); code != http.StatusOK || err != nil || job.JID != jobID || job.State != "RUNNING" {
		t.Fatalf("GET /jobs/%s: %d %s (%v)", jobID, code, body, err)
	}

	// Deleting the JobManager pod stops its cluster; the proxy then answers 502.
	if err := kube.CoreV1().Pods(ns).Delete(ctx, jm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "emulator cluster stopped and pod gone", func() (bool, string) {
		_, err := kube.CoreV1().Pods(ns).Get(ctx, jm.Name, metav1.GetOptions{})
		return emu.Cluster(host) == nil && apierrors.IsNotFound(err), fmt.Sprintf("cluster %v, pod err %v", emu.Cluster(host) != nil, err)
	})
	if code, body := getViaProxy(t, "http://"+host+":8081/jobs/overview"); code != http.StatusBadGateway {
		t.Errorf("after stop: %d %s", code, body)
	}
}

func TestJobManagerPodWithBadArgsFails(t *testing.T) {
	kube := Kube(t)
	ns := Namespace(t)
	ctx := ctxFor(t)
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, flinkConfigMap("broken", "parallelism.default: 1\n"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "broken-jobmanager", Labels: flinkLabels("broken", ComponentJobManager)},
		Spec:       flinkPodSpec("broken", "standalone-job", "--job-id", "0000000000000000000000000000abcd"),
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "pod Failed", func() (bool, string) {
		p, err := kube.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == corev1.PodFailed && strings.Contains(p.Status.Message, "--job-classname"),
			fmt.Sprintf("%s %q", p.Status.Phase, p.Status.Message)
	})
	if Emulator(t).Cluster(RestHost("broken", ns)) != nil {
		t.Error("a cluster runs for the failed JobManager")
	}
}

func TestProviderConfig(t *testing.T) {
	hcl := ProviderConfig(t)
	for _, want := range []string{`config_path = "` + KubeconfigPath(t) + `"`, `mode         = "direct"`, `"http://{name}-rest.{namespace}.svc:8081"`} {
		if !strings.Contains(hcl, want) {
			t.Errorf("provider config misses %s:\n%s", want, hcl)
		}
	}
	if _, err := os.Stat(KubeconfigPath(t)); err != nil {
		t.Error(err)
	}
}
