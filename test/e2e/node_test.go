package e2e

import (
	"context"
	"fmt"
	"net/netip"
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
// enforced by the kernel; a TaskManager JVM that dies is restarted in its pod by the kubelet,
// and the job goes on from its latest checkpoint without an apply.
func TestE2E_RealNodeRunsThePods(t *testing.T) {
	requireRealFlink(t)
	node := acctest.Current().Node()
	if node == nil {
		t.Skip("real-node scenario: it runs with FLINK_RUNTIME=node (make test-e2e runs it so)")
	}
	ns := acctest.Namespace(t)
	cfg := acctest.ProviderConfig(t) + haVersion(t, ns) + application("counter", ns, "v1", "running", "")
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
