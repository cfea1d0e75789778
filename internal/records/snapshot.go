package records

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// Snapshot origins (SnapshotRecord.Origin).
const (
	OriginUser       = "user"
	OriginUpgrade    = "upgrade"
	OriginSuspend    = "suspend"
	OriginDestroy    = "destroy"
	OriginImported   = "imported"
	OriginCopied     = "copied"
	OriginCheckpoint = "checkpoint"
)

// Snapshot formats (SnapshotRecord.Format).
const (
	FormatCanonical  = "canonical"
	FormatNative     = "native"
	FormatCheckpoint = "checkpoint"
)

// Snapshot states (SnapshotRecord.State).
const (
	SnapshotCompleted = "completed"
	SnapshotDisposing = "disposing"
	SnapshotDisposed  = "disposed"
)

// SnapshotManagedByResource is SnapshotRecord.ManagedBy for a snapshot that a
// flink_snapshot resource owns: retention never disposes it.
const SnapshotManagedByResource = "flink_snapshot"

var (
	snapshotOrigins = map[string]bool{
		OriginUser: true, OriginUpgrade: true, OriginSuspend: true,
		OriginDestroy: true, OriginImported: true, OriginCopied: true,
		OriginCheckpoint: true,
	}
	snapshotFormats = map[string]bool{FormatCanonical: true, FormatNative: true, FormatCheckpoint: true}
	snapshotStates  = map[string]bool{SnapshotCompleted: true, SnapshotDisposing: true, SnapshotDisposed: true}
)

// SnapshotRecord describes one savepoint or checkpoint the provider manages. It is stored as
// JSON under RecordDataKey in a ConfigMap named Name, labelled with the application, the
// origin (kube.LabelSnapshotOrigin) and the version (kube.LabelVersion). It has no owner reference:
// snapshot records outlive the application.
type SnapshotRecord struct {
	Namespace   string `json:"namespace"`
	Application string `json:"application"`
	// Name is the record id and ConfigMap name (see kube.NewSnapshotName).
	Name string `json:"name"`
	// Path is the Flink savepoint/checkpoint path.
	Path string `json:"path"`
	// Origin is one of the SnapshotOrigin* values.
	Origin       string `json:"origin"`
	JobID        string `json:"jobId,omitempty"`
	VersionLabel string `json:"versionLabel,omitempty"`
	FlinkVersion string `json:"flinkVersion,omitempty"`
	// Format is one of the SnapshotFormat* values, or "" when unknown.
	Format    string    `json:"format,omitempty"`
	SizeBytes int64     `json:"sizeBytes,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// State is one of the SnapshotState* values.
	State string `json:"state"`
	// ManagedBy is SnapshotManagedByResource when a flink_snapshot resource owns the
	// snapshot, "" when it is automatic (subject to retention).
	ManagedBy string `json:"managedBy,omitempty"`
	// BucketURL is the bucket the snapshot lies in when that is not the provider's
	// snapshot_storage_url (a copy to another bucket), so it can still be disposed.
	BucketURL string `json:"bucketUrl,omitempty"`
	// SourceSnapshot is the record name of the snapshot this one was copied from.
	SourceSnapshot string `json:"sourceSnapshot,omitempty"`
	// Parent is the record name of the snapshot the job this one was taken of had started
	// from ("" when it started with empty state, or from files no record names).
	Parent string `json:"parent,omitempty"`
	// Sequence numbers the application's snapshots in the order they were recorded (1, 2,
	// …; 0 for records written before there were sequences). It, not CreatedAt, says which
	// is newest: CreatedAt comes from the clock of whichever machine ran the apply.
	Sequence int64 `json:"sequence,omitempty"`
	// Contents is what the snapshot's _metadata said when it was recorded; nil when it could
	// not be read (outside the provider's snapshot store, or a format this provider does not
	// know).
	Contents *SnapshotContents `json:"contents,omitempty"`
}

// SnapshotContents is what a snapshot holds, per operator, as its _metadata says. It is
// part of the record format: fields are only ever added.
type SnapshotContents struct {
	// MetadataVersion is the version of Flink's metadata format that wrote the snapshot.
	MetadataVersion int                `json:"metadataVersion"`
	CheckpointID    int64              `json:"checkpointId"`
	Operators       []SnapshotOperator `json:"operators"`
}

// SnapshotOperator is one operator's entry in a snapshot.
type SnapshotOperator struct {
	ID             string `json:"id"`
	UID            string `json:"uid,omitempty"`
	Name           string `json:"name,omitempty"`
	Parallelism    int    `json:"parallelism"`
	MaxParallelism int    `json:"maxParallelism"`
	StateSize      int64  `json:"stateSize,omitempty"`
	HasState       bool   `json:"hasState,omitempty"`
}

// SnapshotFilter selects snapshot records; empty fields match everything.
type SnapshotFilter struct {
	Application, VersionLabel, Origin string
}

// Selector is the label selector of f.
func (f SnapshotFilter) Selector() string {
	s := kube.SnapshotRecordSelector(f.Application)
	if f.VersionLabel != "" {
		s += "," + kube.LabelVersion + "=" + f.VersionLabel
	}
	if f.Origin != "" {
		s += "," + kube.LabelSnapshotOrigin + "=" + f.Origin
	}
	return s
}

func (f SnapshotFilter) validate() error {
	for _, x := range []struct{ what, v string }{{"application", f.Application}, {"version label", f.VersionLabel}, {"origin", f.Origin}} {
		if errs := validation.IsValidLabelValue(x.v); len(errs) > 0 {
			return fmt.Errorf("snapshot filter: %s %q is invalid: %s", x.what, x.v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// Validate checks that r can be stored.
func (r SnapshotRecord) Validate() error {
	if err := kube.ValidateNamespace(r.Namespace); err != nil {
		return err
	}
	if err := kube.ValidateApplicationName(r.Application); err != nil {
		return err
	}
	if r.Name == "" {
		return fmt.Errorf("snapshot record of %s/%s: name must not be empty (use kube.NewSnapshotName)", r.Namespace, r.Application)
	}
	if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
		return fmt.Errorf("snapshot record name %q is invalid: %s", r.Name, strings.Join(errs, "; "))
	}
	what := "snapshot record " + r.Namespace + "/" + r.Name
	if r.Path == "" {
		return fmt.Errorf("%s: path must not be empty", what)
	}
	if !snapshotOrigins[r.Origin] {
		return fmt.Errorf("%s: origin %q is not one of %q", what, r.Origin, sortedKeys(snapshotOrigins))
	}
	if r.Format != "" && !snapshotFormats[r.Format] {
		return fmt.Errorf("%s: format %q is not one of %q", what, r.Format, sortedKeys(snapshotFormats))
	}
	if !snapshotStates[r.State] {
		return fmt.Errorf("%s: state %q is not one of %q", what, r.State, sortedKeys(snapshotStates))
	}
	if r.VersionLabel != "" {
		if errs := validation.IsValidLabelValue(r.VersionLabel); len(errs) > 0 {
			return fmt.Errorf("%s: version label %q is invalid: %s", what, r.VersionLabel, strings.Join(errs, "; "))
		}
	}
	if r.CreatedAt.IsZero() {
		return fmt.Errorf("%s: created time must be set", what)
	}
	if r.SizeBytes < 0 {
		return fmt.Errorf("%s: negative size %d", what, r.SizeBytes)
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func snapshotLabels(r SnapshotRecord) map[string]string {
	l := kube.RecordLabels(r.Application, kube.RecordSnapshot)
	l[kube.LabelSnapshotOrigin] = r.Origin
	if r.VersionLabel != "" {
		l[kube.LabelVersion] = r.VersionLabel
	}
	return l
}

// snapshotRecords are the snapshot records of any application: a snapshot record is found
// by its name alone.
var snapshotRecords = kind[SnapshotRecord]{noun: "snapshot record", label: kube.RecordSnapshot, of: "a snapshot record of application %q", fill: func(r *SnapshotRecord, cm *corev1.ConfigMap) {
	// The object is the authority on where it lives.
	r.Namespace, r.Name = cm.Namespace, cm.Name
	if r.Application == "" {
		r.Application = cm.Labels[kube.LabelName]
	}
}}

// PutSnapshotRecord creates snapshot record r, or replaces it when it exists (it must be a
// snapshot record of the same application). The labels for application, origin and version
// are kept in step with the record; labels and annotations others set are kept. Concurrent
// writers are retried on resourceVersion conflicts; the last write wins (mutual exclusion
// is the application Lease). CreatedAt is stored in UTC.
func (s *Store) PutSnapshotRecord(ctx context.Context, r SnapshotRecord) (err error) {
	defer kube.PermissionHint(&err, r.Namespace)
	if err := r.Validate(); err != nil {
		return err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode snapshot record %s/%s: %w", r.Namespace, r.Name, err)
	}
	ours := snapshotLabels(r)
	_, err = snapshotRecords.upsert(ctx, s, r.Namespace, r.Name, func(cur *corev1.ConfigMap) (*corev1.ConfigMap, error) {
		switch {
		case cur == nil:
			return newRecordObject(r.Namespace, r.Name, ours, nil, data), nil
		case !snapshotRecords.ours(cur, r.Application):
			return nil, snapshotRecords.notOurs(cur, r.Application, "exists and is not")
		}
		return withData(cur, ours, data), nil
	})
	return err
}

// GetSnapshotRecord reads snapshot record name. A missing record is an error wrapping
// ErrNotFound.
func (s *Store) GetSnapshotRecord(ctx context.Context, ns, name string) (_ SnapshotRecord, err error) {
	defer kube.PermissionHint(&err, ns)
	r, _, err := snapshotRecords.get(ctx, s, ns, name, "", fmt.Sprintf("snapshot %s/%s", ns, name))
	return r, err
}

// ListSnapshotRecords lists the snapshot records in ns that match filter, with one LIST
// call (the filter is a label selector), newest first: by Sequence descending, then by
// CreatedAt descending, then by Name descending.
func (s *Store) ListSnapshotRecords(ctx context.Context, ns string, filter SnapshotFilter) (_ []SnapshotRecord, err error) {
	defer kube.PermissionHint(&err, ns)
	if err := filter.validate(); err != nil {
		return nil, err
	}
	out, err := snapshotRecords.list(ctx, s, ns, filter.Selector())
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Sequence != b.Sequence {
			return a.Sequence > b.Sequence
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.Name > b.Name
	})
	return out, nil
}

// DeleteSnapshotRecord deletes snapshot record name (only the record: disposing of the
// snapshot files is the caller's job, before). A missing record is not an error; a
// ConfigMap of that name that is not a snapshot record is left alone and reported.
func (s *Store) DeleteSnapshotRecord(ctx context.Context, ns, name string) (err error) {
	defer kube.PermissionHint(&err, ns)
	return s.kube.RetryTransient(ctx, func() error { return s.deleteSnapshotRecord(ctx, ns, name) })
}

func (s *Store) deleteSnapshotRecord(ctx context.Context, ns, name string) error {
	cms := s.kube.Kube.CoreV1().ConfigMaps(ns)
	cur, err := cms.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read snapshot record %s/%s: %w", ns, name, err)
	}
	if !snapshotRecords.ours(cur, "") {
		return fmt.Errorf("%w; not deleting it", snapshotRecords.notOurs(cur, "", "is not"))
	}
	// Only the object read: not one created under the same name since.
	opts := metav1.DeleteOptions{}
	if cur.UID != "" {
		uid := cur.UID
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err = cms.Delete(ctx, name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete snapshot record %s/%s: %w", ns, name, err)
	}
	return nil
}
