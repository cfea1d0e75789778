package acctest

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodExitNotifier is implemented by a Runtime whose pods can end on their own (a JobManager or
// TaskManager process that exits). The node agent installs its handler in Start; the runtime
// calls it at most once per start of a pod, never for a pod that StopPod stopped and never
// for one whose Start* returned an error (that error says it).
//
// The agent then does what a kubelet does by the pod's restartPolicy: with Always (every
// Deployment's pods), or OnFailure after a failure, it restarts the container in the same
// pod, after a crash-loop back-off if it keeps failing; with Never (or OnFailure after exit
// code 0) the pod ends: phase Failed (Succeeded for exit code 0), its container terminated
// with that exit code.
type PodExitNotifier interface {
	SetPodExitHandler(func(pod *corev1.Pod, exitCode int, message string))
}

// ExitCoder is an error of a Runtime's Start* whose process exited before the pod was ready.
type ExitCoder interface {
	error
	ExitCode() int
}

type podExit struct {
	code    int
	reason  string // Error, Completed, or StartError (the container did not come up)
	message string
	started time.Time // when the container started (zero: it never ran)
	killed  bool      // a test killed it (KillPod): no crash-loop back-off
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
		a.exited[pod.UID] = podExit{code: code, reason: exitReason(code), message: message}
		a.mu.Unlock()
		a.log.Printf("%s/%s: process exited with code %d", pod.Namespace, pod.Name, code)
		a.queue.Add(pod.Namespace + "/" + pod.Name)
	})
}

func exitReason(code int) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// startCrash is the exit of a container whose runtime start failed.
func startCrash(err error) podExit {
	var ec ExitCoder
	if errors.As(err, &ec) {
		return podExit{code: ec.ExitCode(), reason: exitReason(ec.ExitCode()), message: err.Error()}
	}
	// What a kubelet reports for a container that could not be started.
	return podExit{code: 128, reason: "StartError", message: err.Error()}
}

// syncExited handles a pod whose process exited on its own; handled is false for every other pod.
func (a *NodeAgent) syncExited(ctx context.Context, key string, pod *corev1.Pod) (handled bool, err error) {
	a.mu.Lock()
	e, ok := a.exited[pod.UID]
	a.mu.Unlock()
	if !ok {
		return false, nil
	}
	a.mu.Lock()
	e.killed = a.killed[pod.UID]
	delete(a.killed, pod.UID)
	a.mu.Unlock()
	if restartsAfter(pod, e.code) {
		a.mu.Lock()
		delete(a.exited, pod.UID)
		a.mu.Unlock()
		// The runtime is done with that process; a restart starts a new one.
		a.stopRunning(key, "")
		if cs := flinkContainerStatus(pod); cs != nil && cs.State.Running != nil {
			e.started = cs.State.Running.StartedAt.Time
		}
	}
	return true, a.containerExited(ctx, key, pod, e)
}

// restartsAfter reports whether a kubelet restarts the pod's container after it exited with code.
func restartsAfter(pod *corev1.Pod, code int) bool {
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// containerExited ends the pod or, by its restart policy, restarts its container in place
// (after the back-off).
func (a *NodeAgent) containerExited(ctx context.Context, key string, pod *corev1.Pod, e podExit) error {
	if !restartsAfter(pod, e.code) {
		a.mu.Lock()
		if a.exited == nil {
			a.exited = map[types.UID]podExit{}
		}
		a.exited[pod.UID] = e // until the pod is reported terminated
		a.mu.Unlock()
		return a.markTerminated(ctx, pod, e)
	}
	wait := a.noteCrash(key, pod, e, time.Now())
	a.log.Printf("%s: container exited with code %d: restarting it in the same pod after %s", key, e.code, wait)
	a.queue.AddAfter(key, wait)
	return a.markRestarting(ctx, key, pod)
}

// Crash-loop back-off, as a kubelet keeps it: per container of one pod (a new pod, e.g. of a
// new ReplicaSet, starts at once). A kubelet restarts a crashed container at once the first
// time, then after 10s, 20s, 40s … (at most 5 minutes); this agent after crashBackoffInitial,
// doubling up to crashBackoffMax, so that tests do not wait minutes. A container that ran for
// crashBackoffReset before it failed starts the series again. A container waiting is in
// CrashLoopBackOff; the pod stays Running but not ready.
const (
	crashBackoffInitial = 5 * time.Second
	crashBackoffMax     = 80 * time.Second
	crashBackoffReset   = time.Minute
)

// restarts is what the agent keeps about the restarts of one pod's container.
type restarts struct {
	uid        types.UID
	count      int32 // restarts started (the container status's restartCount)
	crashes    int   // failures in a row
	pending    bool  // crashed and not started again yet
	until      time.Time
	last, prev *corev1.ContainerStateTerminated
}

// crashBackoffAfter is the wait before restarting a container that failed crashes times in a row.
func crashBackoffAfter(crashes int) time.Duration {
	if crashes <= 1 {
		return 0
	}
	d := crashBackoffInitial
	for i := 2; i < crashes && d < crashBackoffMax; i++ {
		d *= 2
	}
	return min(d, crashBackoffMax)
}

// restartsOf returns the pod's restart record (nil: its container never crashed). Call with a.mu held.
func (a *NodeAgent) restartsOf(key string, pod *corev1.Pod) *restarts {
	r := a.restarts[key]
	if r == nil || r.uid != pod.UID {
		return nil // none, or a former pod of the same name
	}
	return r
}

// noteCrash records that the pod's container failed (e) and returns how long it waits before
// it starts again.
func (a *NodeAgent) noteCrash(key string, pod *corev1.Pod, e podExit, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.restartsOf(key, pod)
	if r == nil {
		r = &restarts{uid: pod.UID}
		if a.restarts == nil {
			a.restarts = map[string]*restarts{}
		}
		a.restarts[key] = r
	}
	if e.killed || !e.started.IsZero() && now.Sub(e.started) >= crashBackoffReset {
		r.crashes = 0
	}
	r.crashes++
	r.pending = true
	started := metav1.NewTime(e.started)
	if e.started.IsZero() {
		started = metav1.NewTime(now)
	}
	r.prev, r.last = r.last, &corev1.ContainerStateTerminated{
		ExitCode: int32(e.code), Reason: e.reason, Message: truncate(e.message, 2000),
		StartedAt: started, FinishedAt: metav1.NewTime(now), ContainerID: containerID(pod, FlinkContainerName),
	}
	wait := crashBackoffAfter(r.crashes)
	r.until = now.Add(wait)
	return wait
}

// noteStart counts a restart when the pod's crashed container is started again.
func (a *NodeAgent) noteStart(key string, pod *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.restartsOf(key, pod); r != nil && r.pending {
		r.pending = false
		r.count++
	}
}

// forgetRestarts drops the restart record of the pod under key (it is gone).
func (a *NodeAgent) forgetRestarts(key string) {
	a.mu.Lock()
	delete(a.restarts, key)
	a.mu.Unlock()
}

// restartWait is how long the pod's container must still wait before it starts (0: now).
func (a *NodeAgent) restartWait(key string, pod *corev1.Pod, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.restartsOf(key, pod); r != nil && r.pending {
		return max(r.until.Sub(now), 0)
	}
	return 0
}

// crashBackoff is how long the pod must still wait before its container starts again; it
// reports the container waiting in CrashLoopBackOff meanwhile.
func (a *NodeAgent) crashBackoff(ctx context.Context, key string, pod *corev1.Pod) time.Duration {
	wait := a.restartWait(key, pod, time.Now())
	if wait > 0 {
		if cs := flinkContainerStatus(pod); cs == nil || cs.State.Waiting == nil {
			_ = a.markRestarting(ctx, key, pod)
		}
	}
	return wait
}

// containerStatus is the status of the pod's container c in state, with its restarts.
func (a *NodeAgent) containerStatus(key string, pod *corev1.Pod, c corev1.Container, state corev1.ContainerState, now time.Time) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name), State: state}
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.restartsOf(key, pod)
	if r == nil {
		return cs
	}
	cs.RestartCount = r.count
	switch {
	case !r.pending:
		// Restarted: the last termination is history.
		cs.LastTerminationState.Terminated = r.last
	case now.Before(r.until):
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container %s in pod %s", r.until.Sub(now).Round(time.Second), c.Name, pod.Name),
		}}
		cs.LastTerminationState.Terminated = r.last
	default:
		// About to start again.
		cs.State = corev1.ContainerState{Terminated: r.last}
		if r.prev != nil {
			cs.LastTerminationState.Terminated = r.prev
		}
	}
	return cs
}

// restartCount is how often the pod's container was restarted.
func (a *NodeAgent) restartCount(key string, pod *corev1.Pod) int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.restartsOf(key, pod); r != nil {
		return r.count
	}
	return 0
}

// markRestarting reports the pod's container as crashed: the pod Running but not ready, its
// container waiting to restart (or terminated, about to).
func (a *NodeAgent) markRestarting(ctx context.Context, key string, pod *corev1.Pod) error {
	now := metav1.Now()
	p := pod.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.Reason, p.Status.Message = "", ""
	p.Status.HostIP = "127.0.0.1"
	p.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	if p.Status.StartTime == nil {
		p.Status.StartTime = &now
	}
	setPodCondition(&p.Status, corev1.PodScheduled, corev1.ConditionTrue, "", "", now)
	setPodCondition(&p.Status, corev1.PodInitialized, corev1.ConditionTrue, "", "", now)
	setPodCondition(&p.Status, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "", now)
	setPodCondition(&p.Status, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "", now)
	p.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		// (Pods that crash run one container, Flink's.)
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, a.containerStatus(key, pod, c, corev1.ContainerState{}, now.Time))
	}
	_, err := a.kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// flinkContainerStatus is the status of the pod's Flink container (or its only one), nil if none.
func flinkContainerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i, cs := range pod.Status.ContainerStatuses {
		if cs.Name == FlinkContainerName || len(pod.Status.ContainerStatuses) == 1 {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func (a *NodeAgent) markTerminated(ctx context.Context, pod *corev1.Pod, e podExit) error {
	now := metav1.Now()
	p := pod.DeepCopy()
	phase := corev1.PodFailed
	if e.code == 0 {
		phase = corev1.PodSucceeded
	}
	msg := fmt.Sprintf("container %s exited with code %d: %s", FlinkContainerName, e.code, e.message)
	p.Status.Phase = phase
	p.Status.Reason, p.Status.Message = e.reason, truncate(msg, 4000)
	setPodCondition(&p.Status, corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted", "", now)
	setPodCondition(&p.Status, corev1.PodReady, corev1.ConditionFalse, "PodCompleted", "", now)
	if len(p.Status.ContainerStatuses) == 0 {
		for _, c := range pod.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: containerID(pod, c.Name),
			})
		}
	}
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
			ExitCode: int32(e.code), Reason: e.reason, Message: truncate(e.message, 2000),
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

// KillPod kills the pod's Flink process the way the kernel's OOM killer or a lost node does
// (SIGKILL: no shutdown, nothing cleaned up). The agent then handles the exit (code 137) by
// the pod's restart policy, as a kubelet does after an OOM kill: a Deployment's container
// restarts in the same pod, at once, since the process did not crash on its own (no
// crash-loop back-off).
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
