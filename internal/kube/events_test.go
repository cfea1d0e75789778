package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestEvent(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	var logged []string
	c := &Client{Kube: cs, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	cm, err := cs.CoreV1().ConfigMaps("streams").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: AppRecordName("orders"), Namespace: "streams", UID: "record-uid", Labels: RecordLabels("orders", RecordApplication)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Event(ctx, "streams", "orders", "SavepointCompleted", "savepoint s3://b/sp-1 completed", false)
	c.Event(ctx, "streams", "orders", "RollbackStarted", strings.Repeat("x", 5000), true)
	evs, err := cs.CoreV1().Events("streams").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 2 {
		t.Fatalf("%d events, want 2", len(evs.Items))
	}
	byReason := map[string]corev1.Event{}
	for _, e := range evs.Items {
		byReason[e.Reason] = e
	}
	n := byReason["SavepointCompleted"]
	if n.Type != corev1.EventTypeNormal || n.InvolvedObject.Kind != "ConfigMap" || n.InvolvedObject.Name != "orders-flink-application" ||
		n.InvolvedObject.Namespace != "streams" || n.InvolvedObject.UID != cm.UID || n.Source.Component != EventSource || n.Count != 1 {
		t.Errorf("normal event %+v", n)
	}
	w := byReason["RollbackStarted"]
	if w.Type != corev1.EventTypeWarning || len(w.Message) > maxEventMessage+len("…") {
		t.Errorf("warning event type %s, message length %d", w.Type, len(w.Message))
	}
	if len(logged) != 0 {
		t.Errorf("unexpected logs %v", logged)
	}

	// failures are logged, not returned
	cs.PrependReactor("create", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("no RBAC"))
	})
	c.Event(ctx, "streams", "orders", "X", "y", false)
	if len(logged) != 1 || !strings.Contains(logged[0], "no RBAC") {
		t.Errorf("logged %v", logged)
	}
}
