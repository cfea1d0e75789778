package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// ErrNotFound is returned (wrapped) when a record does not exist; test with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrImmutable is returned (wrapped) by PutVersionRecord when a version record with the same
// label but different content exists.
var ErrImmutable = errors.New("versions are immutable")

// ErrRecordChanged is returned (wrapped) by PutAppRecord when the application record was
// changed by another writer since the caller read it.
var ErrRecordChanged = errors.New("application record changed by another writer")

// Journal is the operation in progress on an application, written before the first step
// that changes anything and cleared when the operation ends. A process that dies mid-way
// leaves it behind for the next run to resume from.
type Journal struct {
	// Operation is the planned operation, e.g. "savepoint_redeploy", "suspend".
	Operation   string `json:"operation"`
	FromVersion string `json:"fromVersion,omitempty"`
	ToVersion   string `json:"toVersion,omitempty"`
	// Step is the last step reached, named by the lifecycle.
	Step      string    `json:"step"`
	StartedAt time.Time `json:"startedAt"`
	// SavepointPath is the savepoint taken by this operation, once it exists.
	SavepointPath string `json:"savepointPath,omitempty"`
	// TriggerID is the savepoint trigger id, written before the request is sent so a
	// restarted provider asks Flink about the same savepoint instead of taking another.
	TriggerID string `json:"triggerId,omitempty"`
	// SnapshotName is the snapshot record of SavepointPath.
	SnapshotName string `json:"snapshotName,omitempty"`
	// TargetState is the application state the operation ends in ("running", "suspended"…).
	TargetState string `json:"targetState,omitempty"`
	// From is the full spec of the version running before the operation, for rollback.
	From *spec.Version `json:"from,omitempty"`
	// FromJobID is the job the operation stops.
	FromJobID string `json:"fromJobId,omitempty"`
	// FromHighAvailability is whether the cluster ran with Kubernetes HA before the
	// operation, for rollback.
	FromHighAvailability bool `json:"fromHighAvailability,omitempty"`
	// Failure is why the last attempt stopped, for the next plan to show.
	Failure string `json:"failure,omitempty"`
	// Format is the savepoint format asked for (CANONICAL, NATIVE), or "checkpoint".
	Format string `json:"format,omitempty"`
	// TargetDirectory is the directory the savepoint was asked to go to ("" = Flink's
	// configured default), where the provider looks for it if Flink forgets the trigger.
	TargetDirectory string `json:"targetDirectory,omitempty"`
	// FromSecret is the provider-owned Secret the stopped job ran with (name and keys
	// only), for rollback.
	FromSecret *spec.OwnedSecret `json:"fromSecret,omitempty"`
}

// AppRecord is the application record: what is deployed and what is in progress. It is
// stored as JSON under RecordDataKey in the ConfigMap AppRecordName(Application).
type AppRecord struct {
	Namespace       string `json:"namespace"`
	Application     string `json:"application"`
	DeployedVersion string `json:"deployedVersion,omitempty"`
	// Version is the full spec of the deployed version.
	Version    spec.Version `json:"version"`
	JobID      string       `json:"jobId,omitempty"`
	SpecHash   string       `json:"specHash,omitempty"`
	Generation int64        `json:"generation"`
	// State is the application's desired state the lifecycle last carried out
	// ("running", "cancelled", …).
	State            string `json:"state,omitempty"`
	LastSnapshotPath string `json:"lastSnapshotPath,omitempty"`
	// LastSnapshotName is the snapshot record of LastSnapshotPath: the newest snapshot the
	// lifecycle took, which a resume or recovery must never go behind.
	LastSnapshotName string `json:"lastSnapshotName,omitempty"`
	// RestorePath is the snapshot the deployed job started from; re-rendering the cluster
	// keeps it so an unrelated re-apply does not change the pods' configuration.
	RestorePath      string `json:"restorePath,omitempty"`
	AllowNonRestored bool   `json:"allowNonRestored,omitempty"`
	// SavepointDirectory is the application's savepoint_directory ("" = the provider's
	// default), which a flink_snapshot of the application uses too.
	SavepointDirectory string `json:"savepointDirectory,omitempty"`
	// Verified is true once the record's job passed the health check after its deploy; a
	// job that never did and whose JobManager never ran holds no state of its own.
	Verified bool `json:"verified,omitempty"`
	// ReadinessTimeout is the application's rollback.readiness_timeout: a job whose tasks do
	// not all run for longer than this reads back as stuck.
	ReadinessTimeout time.Duration `json:"readinessTimeout,omitempty"`
	// HighAvailability is whether the cluster runs with Kubernetes HA (absent in records of
	// clusters deployed before the provider rendered HA: they run without). For a cluster
	// that is not running it is the setting it resumes with.
	HighAvailability bool `json:"highAvailability,omitempty"`
	// HAStorageDir is high-availability.storageDir of the current generation, kept so that
	// re-rendering the cluster never moves it.
	HAStorageDir string `json:"haStorageDir,omitempty"`
	// Journal is nil when no operation is in progress.
	Journal *Journal `json:"journal,omitempty"`
	// Secret is the provider-owned Secret the deployed version runs with: its name and keys,
	// never a value. SecretGeneration numbers the Secrets written (OwnedSecretName).
	Secret           *spec.OwnedSecret `json:"secret,omitempty"`
	SecretGeneration int64             `json:"secretGeneration,omitempty"`
	// Labels and Annotations of flink_streaming_application; also put on the record
	// ConfigMap itself.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// ResourceVersion is the resourceVersion of the ConfigMap this record was read from or
	// last written to ("" for a record not stored yet); PutAppRecord writes only over it.
	ResourceVersion string `json:"-"`
}

// AppOwnerRef returns an owner reference to the application record ConfigMap (controller,
// blockOwnerDeletion), for Render: deleting the record then cascades to the cluster.
func AppOwnerRef(record *corev1.ConfigMap) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion:         "v1",
		Kind:               "ConfigMap",
		Name:               record.Name,
		UID:                record.UID,
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

func recordLabels(app, kind string) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelName:      app,
		LabelComponent: ComponentRecord,
		LabelRecord:    kind,
	}
}

func isOurRecord(cm *corev1.ConfigMap, app, kind string) bool {
	l := cm.Labels
	return l[LabelManagedBy] == ManagedByValue && l[LabelName] == app && l[LabelRecord] == kind
}

// ---- version records ----

// PutVersionRecord stores version v in its immutable version record. Storing the same
// content again succeeds; different content under an existing label fails with an error
// wrapping ErrImmutable.
func (c *Client) PutVersionRecord(ctx context.Context, v spec.Version) (err error) {
	defer withPermissionHint(&err, v.Namespace)
	if err := ValidateNamespace(v.Namespace); err != nil {
		return err
	}
	if err := ValidateApplicationName(v.Application); err != nil {
		return err
	}
	if err := ValidateVersionLabel(v.Application, v.Label); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode version %s: %w", v.ID(), err)
	}
	name := VersionRecordName(v.Application, v.Label)
	labels := recordLabels(v.Application, RecordVersion)
	labels[LabelVersion] = v.Label
	immutable := true
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v.Namespace, Labels: labels},
		Immutable:  &immutable,
		Data:       map[string]string{RecordDataKey: string(data)},
	}
	cms := c.Kube.CoreV1().ConfigMaps(v.Namespace)
	var cur *corev1.ConfigMap
	err = c.retryTransient(ctx, func() error {
		_, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: c.fieldManager()})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		// Compare with what is stored (perhaps our own create whose answer was lost).
		cur, err = cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read version record %s/%s: %w", v.Namespace, name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create version record %s/%s: %w", v.Namespace, name, err)
	}
	if cur == nil {
		return nil
	}
	if !isOurRecord(cur, v.Application, RecordVersion) {
		return fmt.Errorf("ConfigMap %s/%s exists and is not a version record of application %q managed by %s", v.Namespace, name, v.Application, ManagedByValue)
	}
	existing, err := decodeVersion(cur)
	if err != nil {
		return err
	}
	if diff := versionDiff(existing, v); len(diff) > 0 {
		return fmt.Errorf("version %s already exists with different %s: %w; create a new version label instead",
			v.ID(), quoteList(diff), ErrImmutable)
	}
	return nil
}

// versionDiff lists the JSON fields in which a and b differ (nil when equal).
func versionDiff(a, b spec.Version) []string {
	var ma, mb map[string]json.RawMessage
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return nil
	}
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var diff []string
	for k, va := range ma {
		if vb, ok := mb[k]; !ok || !bytes.Equal(va, vb) {
			diff = append(diff, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff
}

func decodeVersion(cm *corev1.ConfigMap) (spec.Version, error) {
	raw, ok := cm.Data[RecordDataKey]
	if !ok {
		return spec.Version{}, fmt.Errorf("version record %s/%s is corrupt: no %q key", cm.Namespace, cm.Name, RecordDataKey)
	}
	var v spec.Version
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return spec.Version{}, fmt.Errorf("version record %s/%s is corrupt: %w", cm.Namespace, cm.Name, err)
	}
	return v, nil
}

// GetVersionRecord reads version label of application app. A missing record is an error
// wrapping ErrNotFound.
func (c *Client) GetVersionRecord(ctx context.Context, ns, app, label string) (_ spec.Version, err error) {
	defer withPermissionHint(&err, ns)
	name := VersionRecordName(app, label)
	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return spec.Version{}, fmt.Errorf("version %s/%s/%s: %w", ns, app, label, ErrNotFound)
	}
	if err != nil {
		return spec.Version{}, fmt.Errorf("read version record %s/%s: %w", ns, name, err)
	}
	if !isOurRecord(cm, app, RecordVersion) {
		return spec.Version{}, fmt.Errorf("ConfigMap %s/%s is not a version record of application %q managed by %s", ns, name, app, ManagedByValue)
	}
	return decodeVersion(cm)
}

// DeleteVersionRecord deletes a version record; a missing record is not an error.
func (c *Client) DeleteVersionRecord(ctx context.Context, ns, app, label string) (err error) {
	defer withPermissionHint(&err, ns)
	name := VersionRecordName(app, label)
	err = c.retryTransient(ctx, func() error {
		return c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete version record %s/%s: %w", ns, name, err)
	}
	return nil
}

// ListVersionRecords lists the versions of app (every application when app is ""), with one
// LIST call, ordered by application, then creation time, then label.
func (c *Client) ListVersionRecords(ctx context.Context, ns, app string) (_ []spec.Version, err error) {
	defer withPermissionHint(&err, ns)
	list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: VersionRecordSelector(app)})
	if err != nil {
		return nil, fmt.Errorf("list version records in %s: %w", ns, err)
	}
	items := list.Items
	sort.SliceStable(items, func(i, j int) bool {
		a, b := &items[i], &items[j]
		if a.Labels[LabelName] != b.Labels[LabelName] {
			return a.Labels[LabelName] < b.Labels[LabelName]
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Labels[LabelVersion] < b.Labels[LabelVersion]
	})
	out := make([]spec.Version, 0, len(items))
	for i := range items {
		v, err := decodeVersion(&items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ---- application records ----

func decodeAppRecord(cm *corev1.ConfigMap) (AppRecord, error) {
	raw, ok := cm.Data[RecordDataKey]
	if !ok {
		return AppRecord{}, fmt.Errorf("application record %s/%s is corrupt: no %q key", cm.Namespace, cm.Name, RecordDataKey)
	}
	var r AppRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return AppRecord{}, fmt.Errorf("application record %s/%s is corrupt: %w", cm.Namespace, cm.Name, err)
	}
	if r.Namespace == "" {
		r.Namespace = cm.Namespace
	}
	if r.Application == "" {
		r.Application = cm.Labels[LabelName]
	}
	r.ResourceVersion = cm.ResourceVersion
	return r, nil
}

// GetAppRecord reads the application record of app and returns it (with its
// ResourceVersion, for PutAppRecord) and its ConfigMap (for AppOwnerRef). A missing record
// is an error wrapping ErrNotFound.
func (c *Client) GetAppRecord(ctx context.Context, ns, app string) (_ AppRecord, _ *corev1.ConfigMap, err error) {
	defer withPermissionHint(&err, ns)
	name := AppRecordName(app)
	cm, err := c.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return AppRecord{}, nil, fmt.Errorf("application %s/%s: %w", ns, app, ErrNotFound)
	}
	if err != nil {
		return AppRecord{}, nil, fmt.Errorf("read application record %s/%s: %w", ns, name, err)
	}
	if !isOurRecord(cm, app, RecordApplication) {
		return AppRecord{}, nil, fmt.Errorf("ConfigMap %s/%s is not the application record of %q managed by %s", ns, name, app, ManagedByValue)
	}
	r, err := decodeAppRecord(cm)
	if err != nil {
		return AppRecord{}, nil, err
	}
	return r, cm, nil
}

// ListAppRecords lists the application records in ns with one LIST call, by name.
func (c *Client) ListAppRecords(ctx context.Context, ns string) (_ []AppRecord, err error) {
	defer withPermissionHint(&err, ns)
	list, err := c.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: AppRecordSelector("")})
	if err != nil {
		return nil, fmt.Errorf("list application records in %s: %w", ns, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := make([]AppRecord, 0, len(list.Items))
	for i := range list.Items {
		r, err := decodeAppRecord(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// maxRecordConflicts bounds the writes of one PutAppRecord that fail with a conflict
// although the record is unchanged.
const maxRecordConflicts = 5

// PutAppRecord stores r as the application record r.Application if the stored record is
// still the one r was read as: the one with r.ResourceVersion, or none when
// r.ResourceVersion is "". On success it sets r.ResourceVersion to the new resourceVersion
// and returns the stored ConfigMap. So a stale lock holder cannot overwrite a newer journal:
// when another writer changed the record since, the error wraps ErrRecordChanged, unless
// the stored record already holds exactly r (our earlier write landed but its answer was
// lost), which is success. Throttling, server errors and timeouts are retried (see
// Client.TransientBackoff). r's Labels and Annotations go on the ConfigMap too, replacing
// those the stored record set; labels and annotations others set are kept.
func (c *Client) PutAppRecord(ctx context.Context, r *AppRecord) (_ *corev1.ConfigMap, err error) {
	defer withPermissionHint(&err, r.Namespace)
	if err := ValidateNamespace(r.Namespace); err != nil {
		return nil, err
	}
	if err := ValidateApplicationName(r.Application); err != nil {
		return nil, err
	}
	if r.DeployedVersion != "" {
		if errs := validation.IsValidLabelValue(r.DeployedVersion); len(errs) > 0 {
			return nil, fmt.Errorf("deployed version %q is not a valid version label", r.DeployedVersion)
		}
	}
	ns, name := r.Namespace, AppRecordName(r.Application)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode application record %s/%s: %w", ns, name, err)
	}
	var written *corev1.ConfigMap
	err = c.retryTransient(ctx, func() error {
		for attempt := 1; ; attempt++ {
			cm, err := c.putAppRecordOnce(ctx, r, string(data))
			if err == nil {
				written = cm
				return nil
			}
			if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
				return err
			}
			// Read again: a conflict that left the record as r read it is tried again.
			if attempt == maxRecordConflicts {
				return fmt.Errorf("write application record %s/%s: gave up after repeated conflicts: %w", ns, name, err)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	r.ResourceVersion = written.ResourceVersion
	return written, nil
}

// putAppRecordOnce reads the record and writes data over it if it is unchanged since r was
// read; the write carries that resourceVersion (or is a create), so the API server refuses
// it if the record changes in between.
func (c *Client) putAppRecordOnce(ctx context.Context, r *AppRecord, data string) (*corev1.ConfigMap, error) {
	ns, app, name := r.Namespace, r.Application, AppRecordName(r.Application)
	cms := c.Kube.CoreV1().ConfigMaps(ns)
	cur, err := cms.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read application record %s/%s: %w", ns, name, err)
	}
	if cur != nil && !isOurRecord(cur, app, RecordApplication) {
		return nil, fmt.Errorf("ConfigMap %s/%s exists and is not the application record of %q managed by %s", ns, name, app, ManagedByValue)
	}
	unchanged := (cur == nil && r.ResourceVersion == "") || (cur != nil && r.ResourceVersion != "" && cur.ResourceVersion == r.ResourceVersion)
	if !unchanged {
		if cur != nil && cur.Data[RecordDataKey] == data {
			return cur, nil
		}
		e := &recordChangedError{ns: ns, name: name, was: r.ResourceVersion}
		if cur != nil {
			e.now = cur.ResourceVersion
		}
		return nil, e
	}

	ours := recordLabels(app, RecordApplication)
	if r.DeployedVersion != "" {
		ours[LabelVersion] = r.DeployedVersion
	}
	if cur == nil {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns,
				Labels:      mergeLabels(r.Labels, ours),
				Annotations: nilIfEmpty(copyMap(r.Annotations)),
			},
			Data: map[string]string{RecordDataKey: data},
		}
		created, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: c.fieldManager()})
		if err != nil {
			return nil, fmt.Errorf("create application record %s/%s: %w", ns, name, err)
		}
		return created, nil
	}
	// What the stored record set (a corrupt one set nothing we know of).
	prev, _ := decodeAppRecord(cur)
	upd := cur.DeepCopy()
	// Replace the user labels/annotations we set before; keep everything others set.
	upd.Labels = replaceUserKeys(upd.Labels, prev.Labels, r.Labels)
	delete(upd.Labels, LabelVersion)
	for k, v := range ours {
		upd.Labels[k] = v
	}
	upd.Annotations = nilIfEmpty(replaceUserKeys(upd.Annotations, prev.Annotations, r.Annotations))
	if upd.Data == nil {
		upd.Data = map[string]string{}
	}
	upd.Data[RecordDataKey] = data
	updated, err := cms.Update(ctx, upd, metav1.UpdateOptions{FieldManager: c.fieldManager()})
	if err != nil {
		return nil, fmt.Errorf("update application record %s/%s: %w", ns, name, err)
	}
	return updated, nil
}

// recordChangedError is PutAppRecord's error when another writer changed the record.
type recordChangedError struct {
	ns, name string
	was, now string // resourceVersions; "" when there was no record
}

func (e *recordChangedError) Error() string {
	was, now := "resourceVersion "+e.was, e.now
	switch {
	case e.was == "":
		was, now = "it did not exist", "resourceVersion "+e.now
	case e.now == "":
		now = "deleted"
	}
	return fmt.Sprintf("application record %s/%s was changed by another writer since this apply read it (%s, now %s); run terraform plan again",
		e.ns, e.name, was, now)
}

// Is makes errors.Is(err, ErrRecordChanged) true.
func (e *recordChangedError) Is(target error) bool { return target == ErrRecordChanged }

// DeleteAppRecord deletes the application record with Background propagation: the record
// goes at once and the garbage collector removes the cluster objects it owns (see
// AppOwnerRef). A missing record is not an error.
func (c *Client) DeleteAppRecord(ctx context.Context, ns, app string) (err error) {
	defer withPermissionHint(&err, ns)
	name := AppRecordName(app)
	bg := metav1.DeletePropagationBackground
	err = c.retryTransient(ctx, func() error {
		return c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete application record %s/%s: %w", ns, name, err)
	}
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// replaceUserKeys removes from cur the keys of prev (what we set last time) and sets next.
func replaceUserKeys(cur, prev, next map[string]string) map[string]string {
	out := copyMap(cur)
	if out == nil {
		out = map[string]string{}
	}
	for k := range prev {
		delete(out, k)
	}
	for k, v := range next {
		out[k] = v
	}
	return out
}
