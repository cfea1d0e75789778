package kube

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
// origin (LabelSnapshotOrigin) and the version (LabelVersion). It has no owner reference:
// snapshot records outlive the application.
type SnapshotRecord struct {
	Namespace   string `json:"namespace"`
	Application string `json:"application"`
	// Name is the record id and ConfigMap name (see NewSnapshotName).
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
	// Sequence numbers the application's snapshots in the order they were recorded (1, 2,
	// …; 0 for records written before there were sequences). It, not CreatedAt, says which
	// is newest: CreatedAt comes from the clock of whichever machine ran the apply.
	Sequence int64 `json:"sequence,omitempty"`
}

// SnapshotFilter selects snapshot records; empty fields match everything.
type SnapshotFilter struct {
	Application, VersionLabel, Origin string
}

// Selector is the label selector of f.
func (f SnapshotFilter) Selector() string {
	s := SnapshotRecordSelector(f.Application)
	if f.VersionLabel != "" {
		s += "," + LabelVersion + "=" + f.VersionLabel
	}
	if f.Origin != "" {
		s += "," + LabelSnapshotOrigin + "=" + f.Origin
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

// NewSnapshotName returns a new snapshot record name "<app>-snap-<UTC yyyymmddhhmmss>-<6
// random hex>": a DNS-1123 subdomain, unique, and for one application sortable by creation
// time (to the second).
func NewSnapshotName(app string, now time.Time) string {
	return app + suffixSnapshot + now.UTC().Format("20060102150405") + "-" + randomHex(3)
}

// Validate checks that r can be stored.
func (r SnapshotRecord) Validate() error {
	if err := ValidateNamespace(r.Namespace); err != nil {
		return err
	}
	if err := ValidateApplicationName(r.Application); err != nil {
		return err
	}
	if r.Name == "" {
		return fmt.Errorf("snapshot record of %s/%s: name must not be empty (use NewSnapshotName)", r.Namespace, r.Application)
	}
	if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
		return fmt.Errorf("snapshot record name %q is invalid: %s", r.Name, strings.Join(errs, "; "))
	}
	what := "snapshot record " + r.Namespace + "/" + r.Name
	if r.Path == "" {
		return fmt.Errorf("%s: path must not be empty", what)
	}
	if !snapshotOrigins[r.Origin] {
		return fmt.Errorf("%s: origin %q is not one of %s", what, r.Origin, quoteList(sortedKeys(snapshotOrigins)))
	}
	if r.Format != "" && !snapshotFormats[r.Format] {
		return fmt.Errorf("%s: format %q is not one of %s", what, r.Format, quoteList(sortedKeys(snapshotFormats)))
	}
	if !snapshotStates[r.State] {
		return fmt.Errorf("%s: state %q is not one of %s", what, r.State, quoteList(sortedKeys(snapshotStates)))
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
	l := recordLabels(r.Application, RecordSnapshot)
	l[LabelSnapshotOrigin] = r.Origin
	if r.VersionLabel != "" {
		l[LabelVersion] = r.VersionLabel
	}
	return l
}

func isSnapshotRecord(cm *corev1.ConfigMap) bool {
	l := cm.Labels
	return l[LabelManagedBy] == ManagedByValue && l[LabelRecord] == RecordSnapshot
}

func decodeSnapshotRecord(cm *corev1.ConfigMap) (SnapshotRecord, error) {
	raw, ok := cm.Data[RecordDataKey]
	if !ok {
		return SnapshotRecord{}, fmt.Errorf("snapshot record %s/%s is corrupt: no %q key", cm.Namespace, cm.Name, RecordDataKey)
	}
	var r SnapshotRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return SnapshotRecord{}, fmt.Errorf("snapshot record %s/%s is corrupt: %w", cm.Namespace, cm.Name, err)
	}
	// The object is the authority on where it lives.
	r.Namespace, r.Name = cm.Namespace, cm.Name
	if r.Application == "" {
		r.Application = cm.Labels[LabelName]
	}
	return r, nil
}

// PutSnapshotRecord creates snapshot record r, or replaces it when it exists (it must be a
// snapshot record of the same application). The labels for application, origin and version
// are kept in step with the record; labels and annotations others set are kept. Concurrent
// writers are retried on resourceVersion conflicts; the last write wins (mutual exclusion
// is the application Lease). Throttling, server errors and timeouts are retried (see
// Client.TransientBackoff). CreatedAt is stored in UTC.
func (c *Client) PutSnapshotRecord(ctx context.Context, r SnapshotRecord) (err error) {
	defer withPermissionHint(&err, r.Namespace)
	if err := r.Validate(); err != nil {
		return err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode snapshot record %s/%s: %w", r.Namespace, r.Name, err)
	}
	ns, name := r.Namespace, r.Name
	ours := snapshotLabels(r)
	cms := c.Kube.CoreV1().ConfigMaps(ns)
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	write := func() error {
		cur, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: ours},
				Data:       map[string]string{RecordDataKey: string(data)},
			}
			_, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: c.fieldManager()})
			if err != nil && !retriable(err) {
				return fmt.Errorf("create snapshot record %s/%s: %w", ns, name, err)
			}
			return err
		}
		if err != nil {
			return fmt.Errorf("read snapshot record %s/%s: %w", ns, name, err)
		}
		if !isSnapshotRecord(cur) || cur.Labels[LabelName] != r.Application {
			return fmt.Errorf("ConfigMap %s/%s exists and is not a snapshot record of application %q managed by %s", ns, name, r.Application, ManagedByValue)
		}
		upd := cur.DeepCopy()
		// The version label goes when the record has none.
		delete(upd.Labels, LabelVersion)
		for k, v := range ours {
			upd.Labels[k] = v
		}
		if upd.Data == nil {
			upd.Data = map[string]string{}
		}
		upd.Data[RecordDataKey] = string(data)
		_, err = cms.Update(ctx, upd, metav1.UpdateOptions{FieldManager: c.fieldManager()})
		if err != nil && !retriable(err) {
			return fmt.Errorf("update snapshot record %s/%s: %w", ns, name, err)
		}
		return err
	}
	return c.retryTransient(ctx, func() error {
		for attempt := 1; ; attempt++ {
			err := write()
			if err == nil || !retriable(err) {
				return err
			}
			if attempt == maxRecordConflicts {
				return fmt.Errorf("write snapshot record %s/%s: gave up after repeated conflicts: %w", ns, name, err)
			}
		}
	})
}

// GetSnapshotRecord reads snapshot record name. A missing record is an error wrapping
// ErrNotFound.
func (c *Client) GetSnapshotRecord(ctx context.Context, ns, name string) (_ SnapshotRecord, err error) {
	defer withPermissionHint(&err, ns)
	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return SnapshotRecord{}, fmt.Errorf("snapshot %s/%s: %w", ns, name, ErrNotFound)
	}
	if err != nil {
		return SnapshotRecord{}, fmt.Errorf("read snapshot record %s/%s: %w", ns, name, err)
	}
	if !isSnapshotRecord(cm) {
		return SnapshotRecord{}, fmt.Errorf("ConfigMap %s/%s is not a snapshot record managed by %s", ns, name, ManagedByValue)
	}
	return decodeSnapshotRecord(cm)
}

// ListSnapshotRecords lists the snapshot records in ns that match filter, with one LIST
// call (the filter is a label selector), newest first: by Sequence descending, then by
// CreatedAt descending, then by Name descending.
func (c *Client) ListSnapshotRecords(ctx context.Context, ns string, filter SnapshotFilter) (_ []SnapshotRecord, err error) {
	defer withPermissionHint(&err, ns)
	if err := filter.validate(); err != nil {
		return nil, err
	}
	list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: filter.Selector()})
	if err != nil {
		return nil, fmt.Errorf("list snapshot records in %s: %w", ns, err)
	}
	out := make([]SnapshotRecord, 0, len(list.Items))
	for i := range list.Items {
		r, err := decodeSnapshotRecord(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
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
func (c *Client) DeleteSnapshotRecord(ctx context.Context, ns, name string) (err error) {
	defer withPermissionHint(&err, ns)
	return c.retryTransient(ctx, func() error { return c.deleteSnapshotRecord(ctx, ns, name) })
}

func (c *Client) deleteSnapshotRecord(ctx context.Context, ns, name string) error {
	cms := c.Kube.CoreV1().ConfigMaps(ns)
	cur, err := cms.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read snapshot record %s/%s: %w", ns, name, err)
	}
	if !isSnapshotRecord(cur) {
		return fmt.Errorf("ConfigMap %s/%s is not a snapshot record managed by %s; not deleting it", ns, name, ManagedByValue)
	}
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
