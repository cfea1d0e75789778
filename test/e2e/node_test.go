package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// TestE2E_RealNodeRunsThePods is what only the real node (FLINK_RUNTIME=node) shows: the
// provider's Deployments run as containers of the Flink image under a kubelet, each pod with an
// address of the node's pod network and the memory and CPU limits the version asks for
// enforced by the kernel; the version's Prometheus endpoint serves the JobManager's metrics and
// the fixture's counter from the TaskManager; a TaskManager JVM that dies is restarted in its
// pod by the kubelet, and the job goes on from its latest checkpoint without an apply.
func TestE2E_RealNodeRunsThePods(t *testing.T) {
	requireRealFlink(t)
	node := acctest.Current().Node()
	if node == nil {
		t.Skip("real-node scenario: it runs with FLINK_RUNTIME=node (make test-e2e runs it so)")
	}
	ns := acctest.Namespace(t)
	withMetrics := strings.Replace(haVersion(t, ns), "  job_manager", "  metrics = {}\n  job_manager", 1)
	cfg := acctest.ProviderConfig(t) + withMetrics + application("counter", ns, "v1", "running", "")
	pods := acctest.PodNetwork()

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: func(*terraform.State) error {
				for _, component := range []string{kube.ComponentJobManager, kube.ComponentTaskManager} {
					pod := runningPod(t, ns, component)
					ip, err := netip.ParseAddr(pod.Status.PodIP)
					if err != nil || !pods.Contains(ip) {
						return fmt.Errorf("%s pod %s has address %q, want one of the pod network %s", component, pod.Name, pod.Status.PodIP, pods)
					}
					pid, err := node.ContainerPID(&pod, kube.ContainerName)
					if err != nil {
						return err
					}
					limits, err := acctest.LimitsOf(pid)
					if err != nil {
						return err
					}
					if limits.MemoryBytes != 1<<30 || limits.CPUs != 0.5 { // memory = "1g", cpu = 0.5
						return fmt.Errorf("%s container's cgroup limits are %+v, want 1 GiB of memory and 0.5 CPUs", component, limits)
					}
					t.Logf("%s pod %s: address %s, limits %d MiB and %.1f CPUs, process %d", component, pod.Name, ip, limits.MemoryBytes>>20, limits.CPUs, pid)
				}
				if err := scrapes(t, ns, kube.ComponentJobManager, "flink_jobmanager_numRegisteredTaskManagers"); err != nil {
					return err
				}
				if err := scrapes(t, ns, kube.ComponentTaskManager, "flink_taskmanager_job_task_operator_eventsCounted"); err != nil {
					return err
				}
				tm := runningPod(t, ns, kube.ComponentTaskManager)
				err := recoversLatestCheckpoint(t, ns, "TaskManager JVM killed", func() {
					acctest.KillTaskManager(t, ns, "counter")
				})
				if err != nil {
					return err
				}
				return restartedInPlace(t, ns, tm)
			},
		}},
	})
}

// scrapes waits until the metrics endpoint of component's pod (its port named "metrics",
// reached through the API server's pod proxy, as a Prometheus outside the cluster would) serves
// metric, and checks the pod carries the scrape annotations.
func scrapes(t *testing.T, ns, component, metric string) error {
	t.Helper()
	pod := runningPod(t, ns, component)
	if pod.Annotations[kube.AnnotationScrape] != "true" || pod.Annotations[kube.AnnotationScrapePort] != "9249" {
		return fmt.Errorf("%s pod %s has annotations %v; want the prometheus.io scrape annotations", component, pod.Name, pod.Annotations)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var body []byte
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		var err error
		body, err = acctest.Kube(t).CoreV1().Pods(ns).ProxyGet("http", pod.Name, "9249", "metrics", nil).DoRaw(ctx)
		return err == nil && bytes.Contains(body, []byte(metric)), nil
	}, nil)
	if err != nil {
		return fmt.Errorf("%s pod %s: its metrics endpoint did not serve %s: %w (last %d bytes)", component, pod.Name, metric, err, len(body))
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, metric) {
			t.Logf("%s pod %s serves %s", component, pod.Name, line)
			break
		}
	}
	return nil
}

// restartedInPlace waits until the kubelet has restarted the Flink container of pod (the same
// pod, its restart count up) and the container runs and is ready again.
func restartedInPlace(t *testing.T, ns string, pod corev1.Pod) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var last corev1.ContainerStatus
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		now := runningPod(t, ns, kube.ComponentTaskManager)
		if now.UID != pod.UID {
			return false, fmt.Errorf("pod %s was replaced by %s; the kubelet should restart its container", pod.Name, now.Name)
		}
		for _, st := range now.Status.ContainerStatuses {
			if st.Name == kube.ContainerName {
				last = st
				return st.RestartCount > 0 && st.Ready && st.State.Running != nil, nil
			}
		}
		return false, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("the killed container of %s: %w (last status %+v)", pod.Name, err, last)
	}
	return nil
}
