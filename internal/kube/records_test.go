package kube

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func testVersion(label string) spec.Version {
	v := testDeployment().Version
	v.Label = label
	return v
}

func TestVersionRecordRoundTripAndImmutability(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}

	v := testVersion("v3")
	v.ParentVersionID = "streams/orders/v2"
	if err := c.PutVersionRecord(ctx, v); err != nil {
		t.Fatalf("PutVersionRecord: %v", err)
	}
	cm, err := cs.CoreV1().ConfigMaps("streams").Get(ctx, "orders-flink-version-v3", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get record: %v", err)
	}
	if cm.Immutable == nil || !*cm.Immutable {
		t.Errorf("version record is not immutable")
	}
	wantLabels := map[string]string{
		LabelManagedBy: ManagedByValue, LabelName: "orders", LabelComponent: ComponentRecord,
		LabelRecord: RecordVersion, LabelVersion: "v3",
	}
	if !reflect.DeepEqual(cm.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cm.Labels, wantLabels)
	}
	if _, ok := cm.Data[RecordDataKey]; !ok {
		t.Errorf("no %s in %v", RecordDataKey, cm.Data)
	}

	got, err := c.GetVersionRecord(ctx, "streams", "orders", "v3")
	if err != nil {
		t.Fatalf("GetVersionRecord: %v", err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, v)
	}

	// identical content again: fine (also with nil vs empty maps)
	same := v
	same.Args = append([]string(nil), v.Args...)
	if err := c.PutVersionRecord(ctx, same); err != nil {
		t.Errorf("PutVersionRecord with identical content: %v", err)
	}
	// different content: immutable
	changed := v
	changed.Image = "registry.example/orders:9.9.9"
	changed.Parallelism = 8
	err = c.PutVersionRecord(ctx, changed)
	if !errors.Is(err, ErrImmutable) {
		t.Fatalf("PutVersionRecord with different content: %v, want ErrImmutable", err)
	}
	if !strings.Contains(err.Error(), "immutable") || !strings.Contains(err.Error(), `"image"`) || !strings.Contains(err.Error(), `"parallelism"`) {
		t.Errorf("error does not explain: %v", err)
	}

	_, err = c.GetVersionRecord(ctx, "streams", "orders", "v9")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("GetVersionRecord missing: %v, want ErrNotFound", err)
	}

	// list: only this application's versions
	if err := c.PutVersionRecord(ctx, testVersion("v4")); err != nil {
		t.Fatal(err)
	}
	other := testVersion("v1")
	other.Application = "billing"
	if err := c.PutVersionRecord(ctx, other); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListVersionRecords(ctx, "streams", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Label != "v3" || list[1].Label != "v4" {
		t.Errorf("ListVersionRecords = %v", labelsOfVersions(list))
	}
	all, err := c.ListVersionRecords(ctx, "streams", "")
	if err != nil || len(all) != 3 || all[0].Application != "billing" {
		t.Errorf("ListVersionRecords(all) = %v, %v", labelsOfVersions(all), err)
	}

	if err := c.DeleteVersionRecord(ctx, "streams", "orders", "v3"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVersionRecord(ctx, "streams", "orders", "v3"); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
	if _, err := c.GetVersionRecord(ctx, "streams", "orders", "v3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

func labelsOfVersions(vs []spec.Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Application+"/"+v.Label)
	}
	return out
}

func TestVersionRecordRejectsForeignConfigMap(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-flink-version-v3", Namespace: "streams"}})
	c := &Client{Kube: cs}
	if err := c.PutVersionRecord(ctx, testVersion("v3")); err == nil || !strings.Contains(err.Error(), "not a version record") {
		t.Errorf("PutVersionRecord over a foreign ConfigMap: %v", err)
	}
	if _, err := c.GetVersionRecord(ctx, "streams", "orders", "v3"); err == nil {
		t.Errorf("GetVersionRecord of a foreign ConfigMap: expected an error")
	}
	bad := testVersion("V3")
	if err := c.PutVersionRecord(ctx, bad); err == nil || !strings.Contains(err.Error(), "version label") {
		t.Errorf("invalid label: %v", err)
	}
}

func TestAppRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}

	if _, _, err := c.GetAppRecord(ctx, "streams", "orders"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAppRecord missing: %v", err)
	}
	started := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := AppRecord{
		Namespace:       "streams",
		Application:     "orders",
		DeployedVersion: "v3",
		Version:         testVersion("v3"),
		JobID:           testJobID,
		SpecHash:        "abc",
		Generation:      4,
		Journal: &Journal{
			Operation: "savepoint_redeploy", FromVersion: "v2", ToVersion: "v3", Step: "savepoint",
			StartedAt: started, SavepointPath: "s3://b/sp-1",
		},
		Labels:      map[string]string{"team": "payments"},
		Annotations: map[string]string{"note": "hello"},
	}
	cm, err := c.PutAppRecord(ctx, &rec)
	if err != nil {
		t.Fatalf("PutAppRecord: %v", err)
	}
	if cm.Name != "orders-flink-application" || cm.Labels[LabelRecord] != RecordApplication || cm.Labels["team"] != "payments" ||
		cm.Labels[LabelVersion] != "v3" || cm.Labels[LabelComponent] != ComponentRecord || cm.Annotations["note"] != "hello" {
		t.Errorf("record ConfigMap meta: %v %v", cm.Labels, cm.Annotations)
	}
	got, gotCM, err := c.GetAppRecord(ctx, "streams", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
	}
	ref := AppOwnerRef(gotCM)
	if ref.APIVersion != "v1" || ref.Kind != "ConfigMap" || ref.Name != "orders-flink-application" || ref.UID != gotCM.UID ||
		!*ref.Controller || !*ref.BlockOwnerDeletion {
		t.Errorf("AppOwnerRef = %+v", ref)
	}

	// A label someone else put on the record survives; a user label removed goes.
	gotCM.Labels["other-tool"] = "x"
	if _, err := cs.CoreV1().ConfigMaps("streams").Update(ctx, gotCM, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	updated, cm2, err := c.UpdateAppRecord(ctx, "streams", "orders", func(r *AppRecord) error {
		r.Journal = nil
		r.Generation++
		r.LastSnapshotPath = "s3://b/sp-1"
		r.Labels = map[string]string{"tier": "gold"}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateAppRecord: %v", err)
	}
	if updated.Journal != nil || updated.Generation != 5 || updated.LastSnapshotPath != "s3://b/sp-1" {
		t.Errorf("updated record %+v", updated)
	}
	if cm2.Labels["other-tool"] != "x" || cm2.Labels["tier"] != "gold" {
		t.Errorf("labels after update %v", cm2.Labels)
	}
	if _, ok := cm2.Labels["team"]; ok {
		t.Errorf("removed user label still present: %v", cm2.Labels)
	}
	again, _, err := c.GetAppRecord(ctx, "streams", "orders")
	if err != nil || again.Generation != 5 || again.Journal != nil {
		t.Errorf("re-read %+v %v", again, err)
	}

	// mutate errors are returned as is
	boom := errors.New("boom")
	if _, _, err := c.UpdateAppRecord(ctx, "streams", "orders", func(*AppRecord) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("mutate error: %v", err)
	}
	if _, _, err := c.UpdateAppRecord(ctx, "streams", "nothere", func(*AppRecord) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateAppRecord missing: %v", err)
	}

	list, err := c.ListAppRecords(ctx, "streams")
	if err != nil || len(list) != 1 || list[0].Application != "orders" {
		t.Errorf("ListAppRecords = %v, %v", list, err)
	}

	if err := c.DeleteAppRecord(ctx, "streams", "orders"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAppRecord(ctx, "streams", "orders"); err != nil {
		t.Errorf("delete missing: %v", err)
	}
	if _, _, err := c.GetAppRecord(ctx, "streams", "orders"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

func TestAppRecordConflictRetry(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	if _, err := c.PutAppRecord(ctx, &AppRecord{Namespace: "streams", Application: "orders", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	var conflicts atomic.Int32
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts.Add(1) <= 2 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "orders-flink-application", fmt.Errorf("the object has been modified"))
		}
		return false, nil, nil
	})
	calls := 0
	rec, _, err := c.UpdateAppRecord(ctx, "streams", "orders", func(r *AppRecord) error {
		calls++
		r.Generation++
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateAppRecord with conflicts: %v", err)
	}
	if calls != 3 || rec.Generation != 2 {
		t.Errorf("calls=%d generation=%d, want 3 calls (2 conflicts) and generation 2", calls, rec.Generation)
	}

	// permanent conflicts give up with a clear error
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "orders-flink-application", fmt.Errorf("modified"))
	})
	if _, err := c.PutAppRecord(ctx, &AppRecord{Namespace: "streams", Application: "orders"}); err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("permanent conflict: %v", err)
	}
}

func TestEvent(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	var logged []string
	c := &Client{Kube: cs, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	cm, err := c.PutAppRecord(ctx, &AppRecord{Namespace: "streams", Application: "orders"})
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
