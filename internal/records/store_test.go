package records

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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube/kubetest"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func testVersion(label string) spec.Version {
	return spec.Version{
		Namespace: "streams", Application: "orders", Label: label,
		Image: "registry.example/orders:1.4.2", JarURI: "local:///opt/flink/usrlib/orders.jar",
		FlinkVersion: "1.20", Parallelism: 4,
		FlinkConfiguration: map[string]string{"execution.checkpointing.interval": "10s"},
		JobManager:         spec.JobManager{CPU: 0.5, Memory: "1024m", Replicas: 1},
		TaskManager:        spec.TaskManager{CPU: 2, Memory: "4g", Replicas: 2, TaskSlots: 2},
	}
}

func TestVersionRecordRoundTripAndImmutability(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := New(&kube.Client{Kube: cs})

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
		kube.LabelManagedBy: kube.ManagedByValue, kube.LabelName: "orders", kube.LabelComponent: kube.ComponentRecord,
		kube.LabelRecord: kube.RecordVersion, kube.LabelVersion: "v3",
	}
	if !reflect.DeepEqual(cm.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cm.Labels, wantLabels)
	}
	if _, ok := cm.Data[kube.RecordDataKey]; !ok {
		t.Errorf("no %s in %v", kube.RecordDataKey, cm.Data)
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
	for _, v := range []spec.Version{testVersion("v3"), testVersion("v4"), other} {
		if got, err := c.GetVersionRecord(ctx, "streams", v.Application, v.Label); err != nil || got.ID() != v.ID() {
			t.Errorf("GetVersionRecord(%s) = %v, %v", v.ID(), got.ID(), err)
		}
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

func TestVersionRecordRejectsForeignConfigMap(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-flink-version-v3", Namespace: "streams"}})
	c := New(&kube.Client{Kube: cs})
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
	kubetest.EmulateResourceVersions(cs, "configmaps")
	c := New(&kube.Client{Kube: cs})

	if _, _, err := c.GetAppRecord(ctx, "streams", "orders"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAppRecord missing: %v", err)
	}
	started := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := AppRecord{
		Namespace:       "streams",
		Application:     "orders",
		DeployedVersion: "v3",
		Version:         testVersion("v3"),
		JobID:           "0123456789abcdef0123456789abcdef",
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
	if rec.ResourceVersion == "" || rec.ResourceVersion != cm.ResourceVersion {
		t.Errorf("record resourceVersion %q after the write, ConfigMap's %q", rec.ResourceVersion, cm.ResourceVersion)
	}
	if cm.Name != "orders-flink-application" || cm.Labels[kube.LabelRecord] != kube.RecordApplication || cm.Labels["team"] != "payments" ||
		cm.Labels[kube.LabelVersion] != "v3" || cm.Labels[kube.LabelComponent] != kube.ComponentRecord || cm.Annotations["note"] != "hello" {
		t.Errorf("record ConfigMap meta: %v %v", cm.Labels, cm.Annotations)
	}
	got, gotCM, err := c.GetAppRecord(ctx, "streams", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
	}
	ref := kube.AppOwnerRef(gotCM)
	if ref.APIVersion != "v1" || ref.Kind != "ConfigMap" || ref.Name != "orders-flink-application" || ref.UID != gotCM.UID ||
		!*ref.Controller || !*ref.BlockOwnerDeletion {
		t.Errorf("AppOwnerRef = %+v", ref)
	}

	// A label someone else put on the record survives; a user label removed goes.
	gotCM.Labels["other-tool"] = "x"
	if _, err := cs.CoreV1().ConfigMaps("streams").Update(ctx, gotCM, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, _, err := c.GetAppRecord(ctx, "streams", "orders")
	if err != nil {
		t.Fatal(err)
	}
	cur.Journal = nil
	cur.Generation++
	cur.LastSnapshotPath = "s3://b/sp-1"
	cur.Labels = map[string]string{"tier": "gold"}
	cm2, err := c.PutAppRecord(ctx, &cur)
	if err != nil {
		t.Fatalf("PutAppRecord over the re-read record: %v", err)
	}
	if cm2.Labels["other-tool"] != "x" || cm2.Labels["tier"] != "gold" {
		t.Errorf("labels after update %v", cm2.Labels)
	}
	if _, ok := cm2.Labels["team"]; ok {
		t.Errorf("removed user label still present: %v", cm2.Labels)
	}
	again, _, err := c.GetAppRecord(ctx, "streams", "orders")
	if err != nil || again.Generation != 5 || again.Journal != nil || again.ResourceVersion != cur.ResourceVersion {
		t.Errorf("re-read %+v %v", again, err)
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

// A stale writer (one whose lock was taken over) must not overwrite the newer journal
// another apply wrote since it read the record.
func TestPutAppRecordRefusesToOverwriteANewerRecord(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	kubetest.EmulateResourceVersions(cs, "configmaps")
	c := New(&kube.Client{Kube: cs})
	if _, err := c.PutAppRecord(ctx, &AppRecord{Namespace: "streams", Application: "orders", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	stale, _, err := c.GetAppRecord(ctx, "streams", "orders")
	if err != nil {
		t.Fatal(err)
	}
	newer := stale
	newer.Journal = &Journal{Operation: "savepoint_redeploy", Step: "deploying", SavepointPath: "s3://b/sp-2"}
	if _, err := c.PutAppRecord(ctx, &newer); err != nil {
		t.Fatalf("newer write: %v", err)
	}

	staleRV := stale.ResourceVersion
	stale.Journal = &Journal{Operation: "suspend", Step: "savepoint"}
	_, err = c.PutAppRecord(ctx, &stale)
	if !errors.Is(err, ErrRecordChanged) {
		t.Fatalf("stale write: %v, want ErrRecordChanged", err)
	}
	want := fmt.Sprintf("application record streams/orders-flink-application was changed by another writer since this apply read it "+
		"(resourceVersion %s, now %s); run terraform plan again", staleRV, newer.ResourceVersion)
	if err.Error() != want {
		t.Errorf("error text:\n got %s\nwant %s", err, want)
	}
	if stale.ResourceVersion != staleRV {
		t.Errorf("a refused write changed the record's resourceVersion to %q", stale.ResourceVersion)
	}
	if got, _, _ := c.GetAppRecord(ctx, "streams", "orders"); got.Journal == nil || got.Journal.SavepointPath != "s3://b/sp-2" {
		t.Errorf("stored journal %+v, want the newer one", got.Journal)
	}

	// A record that must not exist yet ("" resourceVersion) is not written over one that does.
	_, err = c.PutAppRecord(ctx, &AppRecord{Namespace: "streams", Application: "orders", Generation: 7})
	if !errors.Is(err, ErrRecordChanged) || !strings.Contains(err.Error(), "(it did not exist, now resourceVersion "+newer.ResourceVersion+")") {
		t.Errorf("create over an existing record: %v", err)
	}
	// Nor is a record written back after someone deleted it.
	if err := c.DeleteAppRecord(ctx, "streams", "orders"); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutAppRecord(ctx, &newer)
	if !errors.Is(err, ErrRecordChanged) || !strings.Contains(err.Error(), "now deleted") {
		t.Errorf("write after delete: %v", err)
	}
	if _, _, err := c.GetAppRecord(ctx, "streams", "orders"); !errors.Is(err, ErrNotFound) {
		t.Errorf("record after refused write: %v, want none", err)
	}
}

// A write that landed although its answer was lost is not mistaken for someone else's.
func TestPutAppRecordAcceptsItsOwnWriteWhoseAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	kubetest.EmulateResourceVersions(cs, "configmaps")
	c := New(&kube.Client{Kube: cs, TransientBackoff: shortBackoff})
	rec := AppRecord{Namespace: "streams", Application: "orders", Generation: 1}
	if _, err := c.PutAppRecord(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	var lost atomic.Int32
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if lost.Add(1) > 1 {
			return false, nil, nil
		}
		landed := a.(k8stesting.UpdateAction).GetObject().DeepCopyObject().(*corev1.ConfigMap)
		landed.ResourceVersion = "landed-1"
		if err := cs.Tracker().Update(configMapsGVR, landed, "streams"); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewServerTimeout(configMapsGVR.GroupResource(), "update", 1)
	})
	rec.Generation = 2
	if _, err := c.PutAppRecord(ctx, &rec); err != nil {
		t.Fatalf("PutAppRecord whose first answer was lost: %v", err)
	}
	if lost.Load() < 1 {
		t.Fatal("the lost answer was never injected")
	}
	if rec.ResourceVersion != "landed-1" {
		t.Errorf("resourceVersion %q, want the landed write's", rec.ResourceVersion)
	}
	if got, _, _ := c.GetAppRecord(ctx, "streams", "orders"); got.Generation != 2 {
		t.Errorf("stored generation %d", got.Generation)
	}
}

// A Conflict that leaves the record unchanged (the API server's answer to something other
// than another writer) is tried again from a fresh read, a few times.
func TestPutAppRecordRetriesConflictsThatLeaveTheRecordUnchanged(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	kubetest.EmulateResourceVersions(cs, "configmaps")
	c := New(&kube.Client{Kube: cs})
	rec := AppRecord{Namespace: "streams", Application: "orders", Generation: 1}
	if _, err := c.PutAppRecord(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	var updates atomic.Int32
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if updates.Add(1) <= 2 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "orders-flink-application", fmt.Errorf("the object has been modified"))
		}
		return false, nil, nil
	})
	rec.Generation = 2
	if _, err := c.PutAppRecord(ctx, &rec); err != nil {
		t.Fatalf("PutAppRecord with conflicts: %v", err)
	}
	if got, _, _ := c.GetAppRecord(ctx, "streams", "orders"); updates.Load() != 3 || got.Generation != 2 {
		t.Errorf("updates=%d generation=%d, want 3 updates (2 conflicts) and generation 2", updates.Load(), got.Generation)
	}

	// permanent conflicts give up with a clear error
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "orders-flink-application", fmt.Errorf("modified"))
	})
	rec.Generation = 3
	if _, err := c.PutAppRecord(ctx, &rec); err == nil || !strings.Contains(err.Error(), "gave up after repeated conflicts") {
		t.Errorf("permanent conflict: %v", err)
	}
}

// shortBackoff makes as many attempts as the default policy (8), only faster.
var shortBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 8}

var configMapsGVR = corev1.SchemeGroupVersion.WithResource("configmaps")

// failFirst makes the first n verb requests on resource answer err.
func failFirst(cs *fake.Clientset, verb, resource string, n int32, err error) *atomic.Int32 {
	var hits atomic.Int32
	cs.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if hits.Add(1) <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &hits
}

// An API server blip of a second or so must not fail the record write at the end of an
// upgrade whose new job is healthy.
func TestAppRecordWriteRetriesServiceUnavailable(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	kubetest.EmulateResourceVersions(cs, "configmaps")
	c := New(&kube.Client{Kube: cs, TransientBackoff: shortBackoff})
	rec := AppRecord{Namespace: "streams", Application: "orders", Generation: 1}
	if _, err := c.PutAppRecord(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	hits := failFirst(cs, "update", "configmaps", 5, apierrors.NewServiceUnavailable("apiserver restarting"))
	rec.Generation = 2
	if _, err := c.PutAppRecord(ctx, &rec); err != nil {
		t.Fatalf("PutAppRecord through five 503s: %v", err)
	}
	if got, _, _ := c.GetAppRecord(ctx, "streams", "orders"); hits.Load() != 6 || got.Generation != 2 {
		t.Errorf("updates=%d generation=%d, want 6 updates (5 refused) and generation 2", hits.Load(), got.Generation)
	}

	// The record's delete too.
	hits = failFirst(cs, "delete", "configmaps", 3, apierrors.NewTooManyRequests("slow down", 0))
	if err := c.DeleteAppRecord(ctx, "streams", "orders"); err != nil {
		t.Fatalf("DeleteAppRecord through three 429s: %v", err)
	}
	if _, _, err := c.GetAppRecord(ctx, "streams", "orders"); !errors.Is(err, ErrNotFound) || hits.Load() != 4 {
		t.Errorf("after delete: %v, %d deletes", err, hits.Load())
	}

	// A permanent error is not retried.
	hits = failFirst(cs, "create", "configmaps", 100, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("rbac")))
	if _, err := c.PutAppRecord(ctx, &AppRecord{Namespace: "streams", Application: "orders"}); !apierrors.IsForbidden(err) || hits.Load() != 1 {
		t.Errorf("forbidden: %v after %d creates", err, hits.Load())
	}
}
