package acctest

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// Failures a test can cause the way a cluster has them: a node that fails or an OOM kill
// (KillJobManager, KillTaskManager: SIGKILL of the pod's process; the test node agent reports
// the pod Failed and its ReplicaSet replaces it, the real node's kubelet restarts the
// container), and an eviction or kubectl delete (DeleteJobManagerPod: the
// pod is deleted gracefully; the agent stops its process as a kubelet would, SIGTERM then
// SIGKILL, and the ReplicaSet creates a new pod).

// KillJobManager kills the process of a running JobManager pod of app and returns the pod.
func (s *Stack) KillJobManager(ctx context.Context, ns, app string) (*corev1.Pod, error) {
	return s.kill(ctx, ns, app, ComponentJobManager)
}

// KillTaskManager kills the process of a running TaskManager pod of app and returns the pod.
func (s *Stack) KillTaskManager(ctx context.Context, ns, app string) (*corev1.Pod, error) {
	return s.kill(ctx, ns, app, ComponentTaskManager)
}

func (s *Stack) kill(ctx context.Context, ns, app, component string) (*corev1.Pod, error) {
	pod, err := s.RunningPod(ctx, ns, app, component)
	if err != nil {
		return nil, err
	}
	if s.node != nil {
		// The kubelet restarts the container in the same pod.
		return pod, s.node.KillContainer(pod, kube.ContainerName)
	}
	return pod, s.agent.KillPod(pod)
}

// DeleteJobManagerPod deletes a running JobManager pod of app (default grace period) and
// returns it.
func (s *Stack) DeleteJobManagerPod(ctx context.Context, ns, app string) (*corev1.Pod, error) {
	pod, err := s.RunningPod(ctx, ns, app, ComponentJobManager)
	if err != nil {
		return nil, err
	}
	return pod, s.kube.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{})
}

// RunningPod returns a Running, not deleted pod of app's component (the oldest one when
// there are several).
func (s *Stack) RunningPod(ctx context.Context, ns, app, component string) (*corev1.Pod, error) {
	sel := labels.SelectorFromSet(labels.Set{LabelAppName: app, LabelComponent: component}).String()
	list, err := s.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	var running []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running = append(running, p)
		}
	}
	if len(running) == 0 {
		return nil, fmt.Errorf("no running %s pod of %s/%s", component, ns, app)
	}
	sort.Slice(running, func(i, j int) bool { return running[i].CreationTimestamp.Before(&running[j].CreationTimestamp) })
	return &running[0], nil
}

// KillJobManager kills a running JobManager of app in the test cluster (see Stack.KillJobManager).
func KillJobManager(t testing.TB, ns, app string) *corev1.Pod {
	t.Helper()
	p, err := stackFor(t).KillJobManager(context.Background(), ns, app)
	if err != nil {
		t.Fatalf("acctest: kill the JobManager of %s/%s: %v", ns, app, err)
	}
	return p
}

// KillTaskManager kills a running TaskManager of app in the test cluster.
func KillTaskManager(t testing.TB, ns, app string) *corev1.Pod {
	t.Helper()
	p, err := stackFor(t).KillTaskManager(context.Background(), ns, app)
	if err != nil {
		t.Fatalf("acctest: kill a TaskManager of %s/%s: %v", ns, app, err)
	}
	return p
}

// DeleteJobManagerPod deletes a running JobManager pod of app in the test cluster.
func DeleteJobManagerPod(t testing.TB, ns, app string) *corev1.Pod {
	t.Helper()
	p, err := stackFor(t).DeleteJobManagerPod(context.Background(), ns, app)
	if err != nil {
		t.Fatalf("acctest: delete the JobManager pod of %s/%s: %v", ns, app, err)
	}
	return p
}

// JobManagerLogs are the log files of the JobManager pods of namespace ns, of every
// container restart, deleted pods' included: the process runtime's jobmanager.log files, or
// the real node's container logs.
func (s *Stack) JobManagerLogs(ns string) ([]string, error) {
	if s.node != nil {
		return filepath.Glob(filepath.Join(s.node.keptLogsDir(), ns+"_*-jobmanager-*", kube.ContainerName, "*.log"))
	}
	rt, ok := s.runtime.(*ProcessRuntime)
	if !ok {
		return nil, fmt.Errorf("acctest: the stack runs %T, which keeps no JobManager logs", s.runtime)
	}
	return filepath.Glob(filepath.Join(rt.Dir(), "flink", ns, "*-jobmanager-*", "jobmanager.log"))
}
