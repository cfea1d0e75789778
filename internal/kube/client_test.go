package kube

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestApplyWithFake(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	o := mustRender(t, testDeployment(), nil)
	if err := c.Apply(ctx, o); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	jm, err := cs.AppsV1().Deployments("streams").Get(ctx, "orders-jobmanager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := jm.Spec.Template.Spec.Containers[0].Args; !reflect.DeepEqual(got, o.JobManager.Spec.Template.Spec.Containers[0].Args) {
		t.Errorf("applied args %q", got)
	}
	if len(jm.ManagedFields) > 0 && jm.ManagedFields[0].Manager != FieldManager {
		t.Errorf("field manager %q", jm.ManagedFields[0].Manager)
	}
	for _, n := range []string{"orders-rest", "orders-jobmanager"} {
		if _, err := cs.CoreV1().Services("streams").Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("service %s: %v", n, err)
		}
	}
	if _, err := cs.AppsV1().Deployments("streams").Get(ctx, "orders-taskmanager", metav1.GetOptions{}); err != nil {
		t.Errorf("taskmanager: %v", err)
	}
	cm, err := cs.CoreV1().ConfigMaps("streams").Get(ctx, "orders-config", metav1.GetOptions{})
	if err != nil || cm.Data["config.yaml"] == "" {
		t.Fatalf("config map: %v %v", err, cm)
	}

	// re-apply (idempotent) and apply a suspended rendering
	if err := c.Apply(ctx, o); err != nil {
		t.Fatalf("re-Apply: %v", err)
	}
	d := testDeployment()
	d.Suspended = true
	if err := c.Apply(ctx, mustRender(t, d, nil)); err != nil {
		t.Fatalf("Apply suspended: %v", err)
	}
	tm, _ := cs.AppsV1().Deployments("streams").Get(ctx, "orders-taskmanager", metav1.GetOptions{})
	if *tm.Spec.Replicas != 0 {
		t.Errorf("suspended tm replicas %d", *tm.Spec.Replicas)
	}

	if err := c.Apply(ctx, Objects{Namespace: "streams", Application: "orders"}); err == nil {
		t.Errorf("Apply of empty Objects: expected an error")
	}
}

func dep(name string, replicas int32, gen, observed int64, updated, available, total int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "streams", Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available, Replicas: total,
		},
	}
}

func TestDeploymentRolloutStatus(t *testing.T) {
	cases := []struct {
		name string
		d    *appsv1.Deployment
		done bool
		msg  string
	}{
		{"not observed", dep("x", 1, 2, 1, 1, 1, 1), false, "observe"},
		{"not updated", dep("x", 2, 1, 1, 1, 1, 2), false, "1 of 2 replicas updated"},
		{"old pending", dep("x", 1, 1, 1, 1, 1, 2), false, "old replicas pending"},
		{"not available", dep("x", 2, 1, 1, 2, 1, 2), false, "1 of 2 updated replicas available"},
		{"done", dep("x", 2, 1, 1, 2, 2, 2), true, "2 of 2"},
		{"zero done", dep("x", 0, 3, 3, 0, 0, 0), true, "scaled to 0"},
		{"zero with pods left", dep("x", 0, 3, 3, 0, 0, 1), false, "pending termination"},
	}
	for _, c := range cases {
		st, err := DeploymentRolloutStatus(c.d)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if st.Done != c.done || !strings.Contains(st.Message, c.msg) {
			t.Errorf("%s: %+v, want done=%v msg~%q", c.name, st, c.done, c.msg)
		}
	}
	failed := dep("x", 1, 1, 1, 0, 0, 1)
	failed.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet has timed out progressing."}}
	if _, err := DeploymentRolloutStatus(failed); err == nil || !strings.Contains(err.Error(), "progress deadline") {
		t.Errorf("progress deadline: %v", err)
	}
}

func TestWaitRolledOut(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(
		dep("orders-jobmanager", 1, 1, 1, 1, 0, 1),
		dep("orders-taskmanager", 2, 1, 1, 2, 2, 2),
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "orders-jobmanager-abc", Namespace: "streams", Labels: ComponentSelectorLabels("orders", ComponentJobManager)},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				Name:  ContainerName,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}},
			}}},
		},
	)
	c := &Client{Kube: cs}

	// times out with the reason in the error
	short, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	var mu sync.Mutex
	var lines []string
	err := c.WaitRolledOut(short, "streams", "orders", func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() })
	cancel()
	if err == nil || !strings.Contains(err.Error(), "0 of 1 updated replicas available") || !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Fatalf("WaitRolledOut timeout error: %v", err)
	}
	mu.Lock()
	if len(lines) != 1 {
		t.Errorf("progress lines %q: want one (only changes are reported)", lines)
	}
	mu.Unlock()

	// becomes available while waiting
	go func() {
		time.Sleep(300 * time.Millisecond)
		d := dep("orders-jobmanager", 1, 1, 1, 1, 1, 1)
		_, _ = cs.AppsV1().Deployments("streams").UpdateStatus(ctx, d, metav1.UpdateOptions{})
	}()
	lines = nil
	wctx, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := c.WaitRolledOut(wctx, "streams", "orders", func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }); err != nil {
		t.Fatalf("WaitRolledOut: %v", err)
	}
	mu.Lock()
	last := lines[len(lines)-1]
	mu.Unlock()
	if !strings.Contains(last, "jobmanager: 1 of 1 replicas available") || !strings.Contains(last, "taskmanager: 2 of 2 replicas available") {
		t.Errorf("last progress line %q", last)
	}

	// missing deployment fails at once
	if err := c.WaitRolledOut(wctx, "streams", "billing", nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing deployment: %v", err)
	}
}

func TestDeleteClusterAndWaitGone(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	if err := c.Apply(ctx, mustRender(t, testDeployment(), nil)); err != nil {
		t.Fatal(err)
	}
	record := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: AppRecordName("orders"), Namespace: "streams", Labels: RecordLabels("orders", RecordApplication)}}
	if _, err := cs.CoreV1().ConfigMaps("streams").Create(ctx, record, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orders-taskmanager-1", Namespace: "streams", Labels: ComponentSelectorLabels("orders", ComponentTaskManager)}}
	if _, err := cs.CoreV1().Pods("streams").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCluster(ctx, "streams", "orders"); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	if err := c.DeleteCluster(ctx, "streams", "orders"); err != nil {
		t.Fatalf("DeleteCluster again: %v", err)
	}
	// the pod lingers: WaitClusterGone says so on timeout
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := c.WaitClusterGone(short, "streams", "orders")
	cancel()
	if err == nil || !strings.Contains(err.Error(), "1 pod(s)") {
		t.Fatalf("WaitClusterGone with a pod left: %v", err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = cs.CoreV1().Pods("streams").Delete(ctx, pod.Name, metav1.DeleteOptions{})
	}()
	wctx, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := c.WaitClusterGone(wctx, "streams", "orders"); err != nil {
		t.Fatalf("WaitClusterGone: %v", err)
	}
	// records are not part of the cluster
	if _, err := cs.CoreV1().ConfigMaps("streams").Get(ctx, record.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("app record deleted with the cluster: %v", err)
	}
}

// TestApplyRetriesTransientErrors: throttling and server errors from the API server are
// retried; a permanent error is not.
func TestApplyRetriesTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		times     int
		wantError bool
	}{
		{"429", apierrors.NewTooManyRequests("slow down", 0), 2, false},
		{"500", apierrors.NewInternalError(errors.New("etcd leader changed")), 2, false},
		{"503", apierrors.NewServiceUnavailable("apiserver restarting"), 1, false},
		{"403 is permanent", apierrors.NewForbidden(schema.GroupResource{Resource: "deployments"}, "x", errors.New("rbac")), 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			failures := 0
			client.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				if failures < tc.times {
					failures++
					return true, nil, tc.err
				}
				return false, nil, nil
			})
			err := (&Client{Kube: client}).Apply(context.Background(), mustRender(t, testDeployment(), nil))
			if tc.wantError != (err != nil) {
				t.Fatalf("Apply error = %v, want error: %v", err, tc.wantError)
			}
			if failures != tc.times {
				t.Errorf("the API server failed %d times, want %d", failures, tc.times)
			}
		})
	}
}

// A write cancelled with its context fails: retry.OnError alone would report it as success.
func TestApplyCancelledIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset()
	client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		cancel()
		return true, nil, ctx.Err()
	})
	err := (&Client{Kube: client}).Apply(ctx, mustRender(t, testDeployment(), nil))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %v, want context.Canceled", err)
	}
}
