package acctest

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodExitNotifier is implemented by a Runtime whose pods can end on their own (a JobManager or
// TaskManager process that exits). The node agent installs its handler in Start; the runtime
// calls it at most once per pod, never for a pod that StopPod stopped.
//
// The agent then reports the pod terminated: phase Failed (Succeeded for exit code 0), its
// container terminated with that exit code. It does not restart the container in place as a
// kubelet would for restartPolicy Always: the pod's ReplicaSet sees a terminated pod and
// creates a replacement, so a crashed Flink process still comes back, as a new pod.
type PodExitNotifier interface {
	SetPodExitHandler(func(pod *corev1.Pod, exitCode int, message string))
}

type podExit struct {
	code    int
	message string
}

func (a *NodeAgent) installExitHandler() {
	n, ok := a.runtime.(PodExitNotifier)
	if !ok {
		return
	}
	n.SetPodExitHandler(func(pod *corev1.Pod, code int, message string) {
		a.mu.Lock()
		if a.exited == nil {
			a.exited = map[types.UID]podExit{}
		}
		a.exited[pod.UID] = podExit{code: code, message: message}
		a.mu.Unlock()
		a.log.Printf("%s/%s: process exited with code %d", pod.Namespace, pod.Name, code)
		a.queue.Add(pod.Namespace + "/" + pod.Name)
	})
}

// syncExited reports a pod whose process exited; handled is false for every other pod.
func (a *NodeAgent) syncExited(ctx context.Context, pod *corev1.Pod) (handled bool, err error) {
	a.mu.Lock()
	e, ok := a.exited[pod.UID]
	a.mu.Unlock()
	if !ok {
		return false, nil
	}
	a.mu.Lock()
	killed := a.killed[pod.UID]
	a.mu.Unlock()
	if e.code != 0 && !killed {
		ran := time.Duration(0)
		if pod.Status.StartTime != nil {
			ran = time.Since(pod.Status.StartTime.Time)
		}
		a.noteCrash(pod, ran)
	}
	return true, a.markTerminated(ctx, pod, e)
}

// Crash-loop back-off. A kubelet restarts a crashed container after 10s, 20s, 40s … (at most
// 5 minutes); this agent reports the pod terminated instead, and its ReplicaSet creates a new
// pod at once. Without a delay a Flink process that cannot start (bad configuration, bad
// arguments) would be replaced about once a second, each time by a new JVM. So for runtimes
// whose pods can fail (PodExitNotifier), the next pod of the same controller (ReplicaSet)
// waits before it starts: crashBackoffInitial, doubling per failure up to crashBackoffMax; a
// process that ran for crashBackoffReset before it failed starts the series again. Pods
// waiting are Pending with their container waiting in CrashLoopBackOff.
const (
	crashBackoffInitial = 5 * time.Second
	crashBackoffMax     = 80 * time.Second
	crashBackoffReset   = time.Minute
)

type crashLoop struct {
	failures int
	until    time.Time
	seen     map[types.UID]bool // pods already counted
}

func crashLoopKey(pod *corev1.Pod) string {
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return string(ref.UID)
	}
	return string(pod.UID)
}

// noteCrash records that pod failed (to start, or after running for ran).
func (a *NodeAgent) noteCrash(pod *corev1.Pod, ran time.Duration) {
	if _, ok := a.runtime.(PodExitNotifier); !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.crashLoops == nil {
		a.crashLoops = map[string]*crashLoop{}
	}
	k := crashLoopKey(pod)
	c := a.crashLoops[k]
	if c == nil {
		c = &crashLoop{seen: map[types.UID]bool{}}
		a.crashLoops[k] = c
	}
	if c.seen[pod.UID] {
		return
	}
	c.seen[pod.UID] = true
	if ran >= crashBackoffReset {
		c.failures = 0
	}
	c.failures++
	d := crashBackoffInitial
	for i := 1; i < c.failures && d < crashBackoffMax; i++ {
		d *= 2
	}
	d = min(d, crashBackoffMax)
	c.until = time.Now().Add(d)
	a.log.Printf("%s/%s: failed (%d in a row for its controller): the next pod starts after %s", pod.Namespace, pod.Name, c.failures, d)
}

// crashBackoff is how long pod must still wait before it starts (0: start now).
func (a *NodeAgent) crashBackoff(ctx context.Context, pod *corev1.Pod) time.Duration {
	a.mu.Lock()
	c := a.crashLoops[crashLoopKey(pod)]
	var wait time.Duration
	failures := 0
	if c != nil && !c.seen[pod.UID] {
		wait, failures = time.Until(c.until), c.failures
	}
	a.mu.Unlock()
	if wait <= 0 {
		return 0
	}
	msg := fmt.Sprintf("back-off %s restarting failed container (%d failures)", wait.Round(time.Second), failures)
	if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Waiting == nil {
		p := pod.DeepCopy()
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = nil
		for _, c := range pod.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}},
			})
		}
		_, _ = a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
	return wait
}

func (a *NodeAgent) markTerminated(ctx context.Context, pod *corev1.Pod, e podExit) error {
	now := metav1.Now()
	p := pod.DeepCopy()
	phase, reason := corev1.PodFailed, "Error"
	if e.code == 0 {
		phase, reason = corev1.PodSucceeded, "Completed"
	}
	msg := fmt.Sprintf("container %s exited with code %d: %s", FlinkContainerName, e.code, e.message)
	p.Status.Phase = phase
	p.Status.Reason, p.Status.Message = reason, truncate(msg, 4000)
	setPodCondition(&p.Status, corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted", "", now)
	setPodCondition(&p.Status, corev1.PodReady, corev1.ConditionFalse, "PodCompleted", "", now)
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		started := now
		if cs.State.Running != nil {
			started = cs.State.Running.StartedAt
		}
		cs.Ready = false
		f := false
		cs.Started = &f
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(e.code), Reason: reason, Message: truncate(e.message, 2000),
			StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID,
		}}
	}
	_, err := a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// PodKiller is implemented by a Runtime that can kill a pod's processes at once (SIGKILL).
type PodKiller interface {
	KillPod(pod *corev1.Pod) error
}

// KillPod kills the pod's Flink process the way a failed node or the kernel's OOM killer does
// (SIGKILL: no shutdown, nothing cleaned up). The agent then reports the pod Failed with exit
// code 137 and its ReplicaSet replaces it at once: the pod did not crash on its own, so no
// crash-loop back-off applies.
func (a *NodeAgent) KillPod(pod *corev1.Pod) error {
	k, ok := a.runtime.(PodKiller)
	if !ok {
		return fmt.Errorf("the test node's runtime %T cannot kill pods", a.runtime)
	}
	a.mu.Lock()
	if a.killed == nil {
		a.killed = map[types.UID]bool{}
	}
	a.killed[pod.UID] = true
	a.mu.Unlock()
	a.log.Printf("%s/%s: killing its process (SIGKILL)", pod.Namespace, pod.Name)
	return k.KillPod(pod)
}
