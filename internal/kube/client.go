package kube

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8swait "k8s.io/apimachinery/pkg/util/wait"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Client performs the provider's Kubernetes operations. Build it once (see RESTConfig) and
// share it; it holds no per-application state.
type Client struct {
	Kube kubernetes.Interface
	// FieldManager for server-side apply; FieldManager ("terraform-provider-flink") when empty.
	FieldManager string
	// Logf, when set, receives diagnostics that do not fail an operation (an Event that
	// could not be written). Defaults to the standard logger.
	Logf func(format string, args ...any)
	// TransientBackoff is how object applies and record writes retry throttling (429),
	// server errors and timeouts; the zero value means about half a minute (see
	// transientBackoff). Tests may set a short one.
	TransientBackoff k8swait.Backoff
}

// FieldManagerName is the field manager of every write: FieldManager unless the client sets its own.
func (c *Client) FieldManagerName() string {
	if c.FieldManager != "" {
		return c.FieldManager
	}
	return FieldManager
}

func (c *Client) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Apply server-side applies the rendered objects (Force: the provider owns these fields) in
// dependency order: ConfigMap, Services, Deployments.
func (c *Client) Apply(ctx context.Context, o Objects) (err error) {
	defer withPermissionHint(&err, o.Namespace)
	if o.ConfigMap == nil || o.RestService == nil || o.JobManagerService == nil || o.JobManager == nil || o.TaskManager == nil {
		return fmt.Errorf("apply %s/%s: incomplete objects (use Render)", o.Namespace, o.Application)
	}
	opts := metav1.ApplyOptions{FieldManager: c.FieldManagerName(), Force: true}
	ns := o.Namespace
	type object struct {
		kind, name string
		apply      func() error
	}
	objects := []object{{"ConfigMap", *o.ConfigMap.Name, func() error {
		_, err := c.Kube.CoreV1().ConfigMaps(ns).Apply(ctx, o.ConfigMap, opts)
		return err
	}}}
	// The pods' identity exists before the pods do.
	if o.ServiceAccount != nil {
		objects = append(objects, object{"ServiceAccount", *o.ServiceAccount.Name, func() error {
			_, err := c.Kube.CoreV1().ServiceAccounts(ns).Apply(ctx, o.ServiceAccount, opts)
			return err
		}})
	}
	if o.HARole != nil {
		objects = append(objects, object{"Role", *o.HARole.Name, func() error {
			_, err := c.Kube.RbacV1().Roles(ns).Apply(ctx, o.HARole, opts)
			return err
		}})
	}
	if o.HARoleBinding != nil {
		objects = append(objects, object{"RoleBinding", *o.HARoleBinding.Name, func() error {
			_, err := c.Kube.RbacV1().RoleBindings(ns).Apply(ctx, o.HARoleBinding, opts)
			return err
		}})
	}
	for _, svc := range []*corev1ac.ServiceApplyConfiguration{o.RestService, o.JobManagerService} {
		objects = append(objects, object{"Service", *svc.Name, func() error {
			_, err := c.Kube.CoreV1().Services(ns).Apply(ctx, svc, opts)
			return err
		}})
	}
	for _, dep := range []*appsv1ac.DeploymentApplyConfiguration{o.JobManager, o.TaskManager} {
		objects = append(objects, object{"Deployment", *dep.Name, func() error {
			_, err := c.Kube.AppsV1().Deployments(ns).Apply(ctx, dep, opts)
			return err
		}})
	}
	for _, obj := range objects {
		if err := c.RetryTransient(ctx, obj.apply); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", obj.kind, ns, obj.name, err)
		}
	}
	return nil
}

// transientBackoff retries throttling (429), server errors and timeouts for about half a
// minute: an API server that is restarting or overloaded must not fail an apply half-way.
var transientBackoff = k8swait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 8, Cap: 10 * time.Second}

// RetryTransient runs write until it succeeds, fails for good, or ctx ends, and returns the
// last attempt's error.
func (c *Client) RetryTransient(ctx context.Context, write func() error) error {
	backoff := c.TransientBackoff
	if backoff == (k8swait.Backoff{}) {
		backoff = transientBackoff
	}
	backoff.Steps = max(backoff.Steps, 1)
	var last error
	// Not OnError's result: it reports an attempt that failed with a context error as the
	// attempt before's error, or as success when there was none.
	_ = retry.OnError(backoff, func(err error) bool { return isTransient(err) && ctx.Err() == nil }, func() error {
		last = write()
		return last
	})
	return last
}

// pollMax caps the pause between refreshes of the kube waits: the API server answers fast.
const pollMax = time.Second

// RolloutStatus describes whether one Deployment is fully rolled out.
type RolloutStatus struct {
	Done    bool
	Message string
}

// DeploymentRolloutStatus reports whether d is fully rolled out: the controller has observed
// the current generation, and all desired replicas are updated and available with no old
// replicas left. A Deployment with 0 desired replicas is rolled out once its pods are gone.
// A Deployment that exceeded its progress deadline is an error.
//
// These are the conditions of `kubectl rollout status` (k8s.io/kubectl/pkg/polymorphichelpers
// DeploymentStatusViewer.Status, v0.35.4), in its order, with messages of our own. The
// package is not imported: it would bring ~160 packages (kustomize, cobra, cli-runtime) for
// these few lines. One difference: unset spec.replicas counts as the API server's default, 1.
func DeploymentRolloutStatus(d *appsv1.Deployment) (RolloutStatus, error) {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	if d.Generation > d.Status.ObservedGeneration {
		return RolloutStatus{Message: "waiting for the deployment controller to observe the new spec"}, nil
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" {
			return RolloutStatus{}, fmt.Errorf("deployment %s/%s exceeded its progress deadline: %s", d.Namespace, d.Name, cond.Message)
		}
	}
	st := d.Status
	switch {
	case st.UpdatedReplicas < desired:
		return RolloutStatus{Message: fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, desired)}, nil
	case st.Replicas > st.UpdatedReplicas:
		return RolloutStatus{Message: fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)}, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return RolloutStatus{Message: fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)}, nil
	}
	if desired == 0 {
		return RolloutStatus{Done: true, Message: "scaled to 0"}, nil
	}
	return RolloutStatus{Done: true, Message: fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, desired)}, nil
}

// podProblemReasons are container waiting reasons worth telling the user about while
// waiting: they usually need a fix, not patience.
var podProblemReasons = map[string]bool{
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// WaitRolledOut waits until both Deployments of app are fully rolled out (see
// DeploymentRolloutStatus), until ctx ends, or until a Deployment fails. progress, when not
// nil, receives a one-line status whenever it changes. On timeout the error says what was
// still missing.
func (c *Client) WaitRolledOut(ctx context.Context, ns, app string, progress func(string)) (err error) {
	defer withPermissionHint(&err, ns)
	last := ""
	line, err := wait.Conf[string]{
		Pending:     []string{rollingOut},
		Target:      []string{rolledOut},
		Retryable:   isTransient,
		MaxInterval: pollMax,
		Refresh: func(ctx context.Context) (string, string, error) {
			line, state, err := c.statusRollout(ctx, ns, app)
			if err == nil && line != last && progress != nil {
				progress(line)
			}
			last = line
			return line, state, err
		},
	}.Wait(ctx)
	var timeout *wait.TimeoutError
	switch {
	case errors.As(err, &timeout) && timeout.LastError != nil:
		return fmt.Errorf("application %s/%s did not roll out: %s: %w", ns, app, timeout.LastError, timeout.Err)
	case errors.As(err, &timeout):
		return fmt.Errorf("application %s/%s did not roll out: %s: %w", ns, app, line, timeout.Err)
	case err != nil:
		return fmt.Errorf("application %s/%s: %w", ns, app, err)
	}
	return nil
}

// Rollout states of an application's Deployments (see statusRollout).
const (
	rollingOut = "ROLLING_OUT"
	rolledOut  = "ROLLED_OUT"
)

// statusRollout reads both Deployments of app: a one-line status and whether they are
// rolled out.
func (c *Client) statusRollout(ctx context.Context, ns, app string) (string, string, error) {
	done, line, err := c.rolloutLine(ctx, ns, app)
	if done {
		return line, rolledOut, err
	}
	return line, rollingOut, err
}

func (c *Client) rolloutLine(ctx context.Context, ns, app string) (bool, string, error) {
	allDone := true
	var parts []string
	for _, x := range []struct{ component, name string }{
		{ComponentJobManager, JobManagerDeploymentName(app)},
		{ComponentTaskManager, TaskManagerDeploymentName(app)},
	} {
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, x.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "", fmt.Errorf("deployment %s/%s not found", ns, x.name)
		}
		if err != nil {
			return false, "", err
		}
		st, err := DeploymentRolloutStatus(d)
		if err != nil {
			return false, "", err
		}
		if !st.Done {
			allDone = false
		}
		parts = append(parts, x.component+": "+st.Message)
	}
	if !allDone {
		if probs := c.podProblems(ctx, ns, app); probs != "" {
			parts = append(parts, probs)
		}
	}
	return allDone, strings.Join(parts, "; "), nil
}

// podProblems summarises containers stuck in a problem state; best effort.
func (c *Client) podProblems(ctx context.Context, ns, app string) string {
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: PodSelector(app)})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && podProblemReasons[w.Reason] {
				msg := fmt.Sprintf("pod %s: %s", p.Name, w.Reason)
				if w.Message != "" {
					msg += " (" + truncate(w.Message, 200) + ")"
				}
				out = append(out, msg)
			}
		}
		if p.Status.Phase == corev1.PodPending {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
					out = append(out, fmt.Sprintf("pod %s: unschedulable (%s)", p.Name, truncate(cond.Message, 200)))
				}
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// isTransient reports API errors worth retrying while polling.
func isTransient(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
}

// DeleteCluster deletes the Deployments, Services, ConfigMap, and HA ServiceAccount, Role and
// RoleBinding of app (not its records, nor the HA data Flink wrote: see DeleteHAConfigMaps).
// Objects already gone are ignored. The Deployments are deleted with Foreground propagation,
// so they disappear only after their ReplicaSets and pods. The Services and ConfigMap have no
// dependents and are deleted with Background propagation: Foreground would add a finalizer
// that only the garbage collector removes, which changes nothing where it runs and leaves
// them behind forever where it does not (a bare API server). Use WaitClusterGone to wait.
func (c *Client) DeleteCluster(ctx context.Context, ns, app string) (err error) {
	defer withPermissionHint(&err, ns)
	fg := metav1.DeletePropagationForeground
	bg := metav1.DeletePropagationBackground
	var errs []error
	del := func(kind, name string, f func(context.Context, string, metav1.DeleteOptions) error, p metav1.DeletionPropagation) {
		if err := f(ctx, name, metav1.DeleteOptions{PropagationPolicy: &p}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s/%s: %w", kind, ns, name, err))
		}
	}
	deps := c.Kube.AppsV1().Deployments(ns)
	svcs := c.Kube.CoreV1().Services(ns)
	del("Deployment", JobManagerDeploymentName(app), deps.Delete, fg)
	del("Deployment", TaskManagerDeploymentName(app), deps.Delete, fg)
	del("Service", RestServiceName(app), svcs.Delete, bg)
	del("Service", JobManagerServiceName(app), svcs.Delete, bg)
	del("ConfigMap", ConfigMapName(app), c.Kube.CoreV1().ConfigMaps(ns).Delete, bg)
	errs = append(errs, c.DeleteHAAccess(ctx, ns, app))
	return errors.Join(errs...)
}

// DeleteHAAccess deletes the ServiceAccount, Role and RoleBinding of app's Kubernetes HA.
// Objects already gone are ignored. Call it only when no pod of app runs as that account.
func (c *Client) DeleteHAAccess(ctx context.Context, ns, app string) (err error) {
	defer withPermissionHint(&err, ns)
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	for _, x := range []struct {
		kind string
		del  func() error
	}{
		{"RoleBinding " + HARoleName(app), func() error { return c.Kube.RbacV1().RoleBindings(ns).Delete(ctx, HARoleName(app), opts) }},
		{"Role " + HARoleName(app), func() error { return c.Kube.RbacV1().Roles(ns).Delete(ctx, HARoleName(app), opts) }},
		{"ServiceAccount " + ServiceAccountName(app), func() error {
			return c.Kube.CoreV1().ServiceAccounts(ns).Delete(ctx, ServiceAccountName(app), opts)
		}},
	} {
		if err := x.del(); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s in %s: %w", x.kind, ns, err))
		}
	}
	return errors.Join(errs...)
}

// WaitClusterGone waits until the Deployments, Services, ConfigMap and HA ServiceAccount, Role
// and RoleBinding of app and all its JobManager and TaskManager pods are gone, or ctx ends.
func (c *Client) WaitClusterGone(ctx context.Context, ns, app string) (err error) {
	defer withPermissionHint(&err, ns)
	left, err := wait.Conf[[]string]{
		Pending:     []string{"PRESENT"},
		Target:      []string{"GONE"},
		Retryable:   isTransient,
		MaxInterval: pollMax,
		Refresh: func(ctx context.Context) ([]string, string, error) {
			left, err := c.clusterLeft(ctx, ns, app)
			if len(left) == 0 && err == nil {
				return left, "GONE", nil
			}
			return left, "PRESENT", err
		},
	}.Wait(ctx)
	if err != nil {
		if len(left) > 0 {
			return fmt.Errorf("application %s/%s: still present: %s: %w", ns, app, strings.Join(left, ", "), err)
		}
		return fmt.Errorf("application %s/%s: waiting for deletion: %w", ns, app, err)
	}
	return nil
}

func (c *Client) clusterLeft(ctx context.Context, ns, app string) ([]string, error) {
	var left []string
	check := func(kind, name string, get func() error) error {
		err := get()
		switch {
		case err == nil:
			left = append(left, kind+" "+name)
		case apierrors.IsNotFound(err):
		default:
			return err
		}
		return nil
	}
	gopt := metav1.GetOptions{}
	for _, n := range []string{JobManagerDeploymentName(app), TaskManagerDeploymentName(app)} {
		if err := check("Deployment", n, func() error { _, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, n, gopt); return err }); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{RestServiceName(app), JobManagerServiceName(app)} {
		if err := check("Service", n, func() error { _, err := c.Kube.CoreV1().Services(ns).Get(ctx, n, gopt); return err }); err != nil {
			return nil, err
		}
	}
	if err := check("ConfigMap", ConfigMapName(app), func() error {
		_, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, ConfigMapName(app), gopt)
		return err
	}); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		kind, name string
		get        func() error
	}{
		{"ServiceAccount", ServiceAccountName(app), func() error {
			_, err := c.Kube.CoreV1().ServiceAccounts(ns).Get(ctx, ServiceAccountName(app), gopt)
			return err
		}},
		{"Role", HARoleName(app), func() error { _, err := c.Kube.RbacV1().Roles(ns).Get(ctx, HARoleName(app), gopt); return err }},
		{"RoleBinding", HARoleName(app), func() error {
			_, err := c.Kube.RbacV1().RoleBindings(ns).Get(ctx, HARoleName(app), gopt)
			return err
		}},
	} {
		if err := check(x.kind, x.name, x.get); err != nil {
			return nil, err
		}
	}
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: PodSelector(app)})
	if err != nil {
		return nil, err
	}
	if n := len(pods.Items); n > 0 {
		left = append(left, fmt.Sprintf("%d pod(s)", n))
	}
	return left, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// cut on a rune boundary
	for n > 0 && n < len(s) && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// JobManagerCrash describes a JobManager pod of app running jobID that exited with an error
// (a job that cannot start, e.g. a savepoint the new version cannot restore, makes the
// JobManager exit), or "" when none did. Pods of other deployments (other job ids), and
// deleted ones, do not count: failed pods of an earlier generation may linger.
func (c *Client) JobManagerCrash(ctx context.Context, ns, app, jobID string) string {
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(ComponentSelectorLabels(app, ComponentJobManager)).String(),
	})
	if err != nil {
		return ""
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !runsJob(&p, jobID) {
			continue
		}
		// An init container that fails (e.g. the merge of a Secret with a key the provider
		// sets) keeps the JobManager from ever starting.
		for _, cs := range p.Status.InitContainerStatuses {
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t != nil && t.ExitCode != 0 {
					return fmt.Sprintf("JobManager pod %s: init container %s exited with code %d (%s)%s", p.Name, cs.Name, t.ExitCode, t.Reason,
						terminationDetail(t.Message))
				}
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t != nil && t.ExitCode != 0 {
					return fmt.Sprintf("JobManager pod %s exited with code %d (%s)%s", p.Name, t.ExitCode, t.Reason, terminationDetail(t.Message))
				}
			}
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				return fmt.Sprintf("JobManager pod %s is in CrashLoopBackOff%s", p.Name, terminationDetail(w.Message))
			}
		}
		if p.Status.Phase == corev1.PodFailed {
			return fmt.Sprintf("JobManager pod %s failed%s", p.Name, terminationDetail(p.Status.Message))
		}
	}
	return ""
}

// runsJob reports whether the pod's Flink container was started for jobID (--job-id).
func runsJob(p *corev1.Pod, jobID string) bool {
	for _, c := range p.Spec.Containers {
		for i, arg := range c.Args {
			if arg == "--job-id" && i+1 < len(c.Args) && c.Args[i+1] == jobID {
				return true
			}
		}
	}
	return false
}

func terminationDetail(message string) string {
	if message == "" {
		return ""
	}
	return ": " + truncate(message, 300)
}

// DeleteTaskManagerPods deletes the TaskManager pods of app; their ReplicaSet replaces them.
// A JobManager whose TaskManagers are replaced restores its job from the latest completed
// checkpoint.
func (c *Client) DeleteTaskManagerPods(ctx context.Context, ns, app string) (err error) {
	defer withPermissionHint(&err, ns)
	selector := labels.SelectorFromSet(ComponentSelectorLabels(app, ComponentTaskManager)).String()
	err = c.RetryTransient(ctx, func() error {
		return c.Kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: selector})
	})
	if err != nil {
		return fmt.Errorf("delete the TaskManager pods of %s/%s: %w", ns, app, err)
	}
	return nil
}

// JobManagerEverRan reports whether a JobManager container started for jobID has ever run
// (it runs, or ran and exited). A JobManager that never got going (its image cannot be
// pulled, its pod cannot be scheduled) cannot have processed anything.
func (c *Client) JobManagerEverRan(ctx context.Context, ns, app, jobID string) (ran bool, err error) {
	defer withPermissionHint(&err, ns)
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(ComponentSelectorLabels(app, ComponentJobManager)).String(),
	})
	if err != nil {
		return true, err
	}
	for _, p := range pods.Items {
		if !runsJob(&p, jobID) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
				return true, nil
			}
		}
	}
	return false, nil
}
