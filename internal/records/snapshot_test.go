package records

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func testSnapshot(name, origin, version string, created time.Time) SnapshotRecord {
	return SnapshotRecord{
		Namespace: "streams", Application: "orders", Name: name,
		Path:   "s3://bucket/savepoints/orders/" + name,
		Origin: origin, JobID: "00000000000000000000000000000001",
		VersionLabel: version, FlinkVersion: "1.20", Format: FormatCanonical,
		SizeBytes: 12345, CreatedAt: created, State: SnapshotCompleted,
	}
}

func TestNewSnapshotName(t *testing.T) {
	at := time.Date(2026, 3, 1, 13, 4, 5, 999, time.FixedZone("CET", 3600))
	name := kube.NewSnapshotName("orders", at)
	if !regexp.MustCompile(`^orders-snap-20260301120405-[0-9a-f]{6}$`).MatchString(name) {
		t.Errorf("name %q", name)
	}
	if kube.NewSnapshotName("orders", at) == name {
		t.Errorf("two names for the same second are equal")
	}
	long := strings.Repeat("a", kube.MaxApplicationNameLength)
	if errs := validation.IsDNS1123Subdomain(kube.NewSnapshotName(long, at)); len(errs) > 0 {
		t.Errorf("longest name invalid: %v", errs)
	}
	earlier := kube.NewSnapshotName("orders", at.Add(-time.Second))
	if !(earlier < name) {
		t.Errorf("names do not sort by creation: %q !< %q", earlier, name)
	}
}

func TestSnapshotRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := New(&kube.Client{Kube: cs})
	created := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	r := testSnapshot(kube.NewSnapshotName("orders", created), OriginUpgrade, "v2", created)
	r.ManagedBy = SnapshotManagedByResource
	r.SourceSnapshot = "orders-snap-20260101000000-abcdef"

	if err := c.PutSnapshotRecord(ctx, r); err != nil {
		t.Fatalf("PutSnapshotRecord: %v", err)
	}
	cm, err := cs.CoreV1().ConfigMaps("streams").Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ConfigMap: %v", err)
	}
	wantLabels := map[string]string{
		kube.LabelManagedBy: kube.ManagedByValue, kube.LabelName: "orders", kube.LabelComponent: kube.ComponentRecord,
		kube.LabelRecord: kube.RecordSnapshot, kube.LabelSnapshotOrigin: "upgrade", kube.LabelVersion: "v2",
	}
	if !reflect.DeepEqual(cm.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cm.Labels, wantLabels)
	}
	if len(cm.OwnerReferences) != 0 {
		t.Errorf("snapshot record has owner references %v", cm.OwnerReferences)
	}
	if cm.Immutable != nil && *cm.Immutable {
		t.Errorf("snapshot record is immutable (its state changes)")
	}
	if _, ok := cm.Data[kube.RecordDataKey]; !ok {
		t.Errorf("no %s", kube.RecordDataKey)
	}

	got, err := c.GetSnapshotRecord(ctx, "streams", r.Name)
	if err != nil {
		t.Fatalf("GetSnapshotRecord: %v", err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}

	// Update: state moves on, the version label goes away, other labels survive.
	cm.Labels["team"] = "payments"
	if _, err := cs.CoreV1().ConfigMaps("streams").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r2 := r
	r2.State = SnapshotDisposing
	r2.VersionLabel = ""
	r2.Origin = OriginImported
	if err := c.PutSnapshotRecord(ctx, r2); err != nil {
		t.Fatalf("PutSnapshotRecord update: %v", err)
	}
	got, err = c.GetSnapshotRecord(ctx, "streams", r.Name)
	if err != nil || !reflect.DeepEqual(got, r2) {
		t.Errorf("after update: %+v, %v", got, err)
	}
	cm, _ = cs.CoreV1().ConfigMaps("streams").Get(ctx, r.Name, metav1.GetOptions{})
	if _, ok := cm.Labels[kube.LabelVersion]; ok || cm.Labels[kube.LabelSnapshotOrigin] != "imported" || cm.Labels["team"] != "payments" {
		t.Errorf("labels after update %v", cm.Labels)
	}

	// Missing: ErrNotFound; delete is idempotent.
	if _, err := c.GetSnapshotRecord(ctx, "streams", "orders-snap-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: %v", err)
	}
	if err := c.DeleteSnapshotRecord(ctx, "streams", r.Name); err != nil {
		t.Fatalf("DeleteSnapshotRecord: %v", err)
	}
	if _, err := c.GetSnapshotRecord(ctx, "streams", r.Name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after delete: %v", err)
	}
	if err := c.DeleteSnapshotRecord(ctx, "streams", r.Name); err != nil {
		t.Errorf("DeleteSnapshotRecord again: %v", err)
	}
}

// Snapshot record writes ride out throttling and server errors like object applies do.
func TestSnapshotRecordWritesRetryThrottling(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := New(&kube.Client{Kube: cs, TransientBackoff: shortBackoff})
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := testSnapshot(kube.NewSnapshotName("orders", created), OriginUpgrade, "v2", created)

	hits := failFirst(cs, "create", "configmaps", 5, apierrors.NewTooManyRequests("slow down", 0))
	if err := c.PutSnapshotRecord(ctx, r); err != nil {
		t.Fatalf("PutSnapshotRecord through five 429s: %v", err)
	}
	if got, err := c.GetSnapshotRecord(ctx, "streams", r.Name); err != nil || got.Path != r.Path || hits.Load() != 6 {
		t.Errorf("after Put: %+v, %v; %d creates, want 6", got, err, hits.Load())
	}

	r.State = SnapshotDisposing
	hits = failFirst(cs, "update", "configmaps", 2, apierrors.NewInternalError(errors.New("etcd leader changed")))
	if err := c.PutSnapshotRecord(ctx, r); err != nil {
		t.Fatalf("PutSnapshotRecord update through two 500s: %v", err)
	}
	if got, _ := c.GetSnapshotRecord(ctx, "streams", r.Name); got.State != SnapshotDisposing || hits.Load() != 3 {
		t.Errorf("after update: state %s; %d updates, want 3", got.State, hits.Load())
	}

	hits = failFirst(cs, "delete", "configmaps", 3, apierrors.NewServiceUnavailable("apiserver restarting"))
	if err := c.DeleteSnapshotRecord(ctx, "streams", r.Name); err != nil {
		t.Fatalf("DeleteSnapshotRecord through three 503s: %v", err)
	}
	if _, err := c.GetSnapshotRecord(ctx, "streams", r.Name); !errors.Is(err, ErrNotFound) || hits.Load() != 4 {
		t.Errorf("after delete: %v; %d deletes, want 4", err, hits.Load())
	}
}

func TestSnapshotRecordForeignConfigMaps(t *testing.T) {
	ctx := context.Background()
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-snap-20260301120000-aaaaaa", Namespace: "streams"}}
	cs := fake.NewClientset(foreign)
	c := New(&kube.Client{Kube: cs})
	r := testSnapshot(foreign.Name, OriginUser, "v1", time.Now())
	if err := c.PutSnapshotRecord(ctx, r); err == nil || !strings.Contains(err.Error(), "not a snapshot record") {
		t.Errorf("Put over a foreign ConfigMap: %v", err)
	}
	if _, err := c.GetSnapshotRecord(ctx, "streams", foreign.Name); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a foreign ConfigMap: %v", err)
	}
	if err := c.DeleteSnapshotRecord(ctx, "streams", foreign.Name); err == nil {
		t.Errorf("Delete of a foreign ConfigMap succeeded")
	}
	if _, err := cs.CoreV1().ConfigMaps("streams").Get(ctx, foreign.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("foreign ConfigMap gone: %v", err)
	}
	// A record of another application under the same name is not overwritten.
	other := testSnapshot("shared-name", OriginUser, "", time.Now())
	other.Application = "payments"
	if err := c.PutSnapshotRecord(ctx, other); err != nil {
		t.Fatal(err)
	}
	mine := testSnapshot("shared-name", OriginUser, "", time.Now())
	if err := c.PutSnapshotRecord(ctx, mine); err == nil {
		t.Errorf("Put overwrote another application's record")
	}
}

func TestSnapshotRecordValidation(t *testing.T) {
	c := New(&kube.Client{Kube: fake.NewClientset()})
	ok := testSnapshot("orders-snap-20260301120000-aaaaaa", OriginUser, "v1", time.Now())
	for name, mutate := range map[string]func(*SnapshotRecord){
		"no name":     func(r *SnapshotRecord) { r.Name = "" },
		"bad name":    func(r *SnapshotRecord) { r.Name = "Orders_Snap" },
		"no path":     func(r *SnapshotRecord) { r.Path = "" },
		"bad origin":  func(r *SnapshotRecord) { r.Origin = "manual" },
		"no origin":   func(r *SnapshotRecord) { r.Origin = "" },
		"bad format":  func(r *SnapshotRecord) { r.Format = "zip" },
		"bad state":   func(r *SnapshotRecord) { r.State = "gone" },
		"no state":    func(r *SnapshotRecord) { r.State = "" },
		"bad version": func(r *SnapshotRecord) { r.VersionLabel = "v 1" },
		"no created":  func(r *SnapshotRecord) { r.CreatedAt = time.Time{} },
		"neg size":    func(r *SnapshotRecord) { r.SizeBytes = -1 },
		"bad app":     func(r *SnapshotRecord) { r.Application = "" },
		"bad ns":      func(r *SnapshotRecord) { r.Namespace = "" },
	} {
		r := ok
		mutate(&r)
		if err := c.PutSnapshotRecord(context.Background(), r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	r := ok
	r.Format = "" // unknown format is allowed
	if err := c.PutSnapshotRecord(context.Background(), r); err != nil {
		t.Errorf("empty format: %v", err)
	}
	if _, err := c.ListSnapshotRecords(context.Background(), "streams", SnapshotFilter{Origin: "a,b"}); err == nil {
		t.Errorf("invalid filter accepted")
	}
}

func TestListSnapshotRecordsFiltersAndOrder(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := New(&kube.Client{Kube: cs})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []SnapshotRecord{
		testSnapshot("orders-snap-20260301120000-000001", OriginUpgrade, "v1", base),
		testSnapshot("orders-snap-20260301130000-000002", OriginUser, "v2", base.Add(time.Hour)),
		testSnapshot("orders-snap-20260301130000-000003", OriginUpgrade, "v2", base.Add(time.Hour)), // same time: by name
		testSnapshot("orders-snap-20260301140000-000004", OriginSuspend, "v2", base.Add(2*time.Hour)),
		testSnapshot("orders-snap-20260301110000-000005", OriginImported, "", base.Add(-time.Hour)),
	}
	other := testSnapshot("payments-snap-20260301150000-000006", OriginUpgrade, "v2", base.Add(3*time.Hour))
	other.Application = "payments"
	recs = append(recs, other)
	// Put in scrambled order.
	for _, i := range []int{2, 0, 5, 4, 1, 3} {
		if err := c.PutSnapshotRecord(ctx, recs[i]); err != nil {
			t.Fatalf("Put %s: %v", recs[i].Name, err)
		}
	}
	// A record ConfigMap of another kind is never listed.
	if err := c.PutVersionRecord(ctx, testVersion("v2")); err != nil {
		t.Fatal(err)
	}

	names := func(rs []SnapshotRecord) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	for _, tc := range []struct {
		filter       SnapshotFilter
		wantSelector string
		want         []int
	}{
		{SnapshotFilter{}, "app.kubernetes.io/managed-by=terraform-provider-flink,flink.flinkplatform.io/record=snapshot", []int{5, 3, 2, 1, 0, 4}},
		{SnapshotFilter{Application: "orders"}, "app.kubernetes.io/managed-by=terraform-provider-flink,flink.flinkplatform.io/record=snapshot,app.kubernetes.io/name=orders", []int{3, 2, 1, 0, 4}},
		{SnapshotFilter{Application: "orders", VersionLabel: "v2"}, "", []int{3, 2, 1}},
		{SnapshotFilter{Application: "orders", Origin: "upgrade"}, "", []int{2, 0}},
		{SnapshotFilter{VersionLabel: "v2", Origin: "upgrade"}, "", []int{5, 2}},
		{SnapshotFilter{Application: "orders", VersionLabel: "v9"}, "", []int{}},
	} {
		if tc.wantSelector != "" && tc.filter.Selector() != tc.wantSelector {
			t.Errorf("%+v: selector %q, want %q", tc.filter, tc.filter.Selector(), tc.wantSelector)
		}
		cs.ClearActions()
		got, err := c.ListSnapshotRecords(ctx, "streams", tc.filter)
		if err != nil {
			t.Fatalf("%+v: %v", tc.filter, err)
		}
		want := []string{}
		for _, i := range tc.want {
			want = append(want, recs[i].Name)
		}
		if !reflect.DeepEqual(names(got), want) {
			t.Errorf("%+v:\n got %v\nwant %v", tc.filter, names(got), want)
		}
		// Exactly one LIST, filtered server-side by the selector.
		acts := cs.Actions()
		if len(acts) != 1 || acts[0].GetVerb() != "list" {
			t.Fatalf("%+v: actions %v, want one list", tc.filter, acts)
		}
		if sel := acts[0].(k8stesting.ListAction).GetListRestrictions().Labels.String(); !strings.Contains(sel, kube.LabelRecord+"="+kube.RecordSnapshot) ||
			(tc.filter.VersionLabel != "" && !strings.Contains(sel, kube.LabelVersion+"="+tc.filter.VersionLabel)) ||
			(tc.filter.Origin != "" && !strings.Contains(sel, kube.LabelSnapshotOrigin+"="+tc.filter.Origin)) {
			t.Errorf("%+v: list selector %q", tc.filter, sel)
		}
	}
}
