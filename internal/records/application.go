package records

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

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
	// RestorePath is what the new job starts from when that is not SavepointPath: reprocess
	// starts from the snapshot the configuration chose (RestoreSnapshot), while SavepointPath,
	// the running job's savepoint, stays the rollback point.
	RestorePath     string `json:"restorePath,omitempty"`
	RestoreSnapshot string `json:"restoreSnapshot,omitempty"`
	// FromRestoredSnapshot is the record's RestoredSnapshot before the operation, for rollback.
	FromRestoredSnapshot string `json:"fromRestoredSnapshot,omitempty"`
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
	// RestoredSnapshot is the snapshot restore.snapshot_id named when a job of the application
	// last started from a chosen snapshot. A configuration that still names it asks for
	// nothing more: a running job keeps running (another name plans reprocess), and a later
	// start restores the application's newest state, which grew from it.
	RestoredSnapshot string `json:"restoredSnapshot,omitempty"`
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
	// Pods is the labels and annotations the current generation's pods were created with
	// (nil for generations deployed before pods carried them).
	Pods *spec.PodMetadata `json:"pods,omitempty"`
	// ResourceVersion is the resourceVersion of the ConfigMap this record was read from or
	// last written to ("" for a record not stored yet); PutAppRecord writes only over it.
	ResourceVersion string `json:"-"`
}

// AppOwnerRef returns an owner reference to the application record ConfigMap (controller,

var appRecords = kind[AppRecord]{noun: "application record", label: kube.RecordApplication, of: "the application record of %q", fill: func(r *AppRecord, cm *corev1.ConfigMap) {
	if r.Namespace == "" {
		r.Namespace = cm.Namespace
	}
	if r.Application == "" {
		r.Application = cm.Labels[kube.LabelName]
	}
	r.ResourceVersion = cm.ResourceVersion
}}

// GetAppRecord reads the application record of app and returns it (with its
// ResourceVersion, for PutAppRecord) and its ConfigMap (for kube.AppOwnerRef). A missing
// record is an error wrapping ErrNotFound.
func (s *Store) GetAppRecord(ctx context.Context, ns, app string) (_ AppRecord, _ *corev1.ConfigMap, err error) {
	defer kube.PermissionHint(&err, ns)
	return appRecords.get(ctx, s, ns, kube.AppRecordName(app), app, fmt.Sprintf("application %s/%s", ns, app))
}

// ListAppRecords lists the application records in ns with one LIST call, by name.
func (s *Store) ListAppRecords(ctx context.Context, ns string) (_ []AppRecord, err error) {
	defer kube.PermissionHint(&err, ns)
	return appRecords.list(ctx, s, ns, kube.AppRecordSelector(""))
}

// PutAppRecord stores r as the application record r.Application if the stored record is
// still the one r was read as: the one with r.ResourceVersion, or none when
// r.ResourceVersion is "". On success it sets r.ResourceVersion to the new resourceVersion
// and returns the stored ConfigMap. So a stale lock holder cannot overwrite a newer journal:
// when another writer changed the record since, the error wraps ErrRecordChanged, unless
// the stored record already holds exactly r (our earlier write landed but its answer was
// lost), which is success. r's Labels and Annotations go on the ConfigMap too, replacing
// those the stored record set; labels and annotations others set are kept.
func (s *Store) PutAppRecord(ctx context.Context, r *AppRecord) (_ *corev1.ConfigMap, err error) {
	defer kube.PermissionHint(&err, r.Namespace)
	if err := kube.ValidateNamespace(r.Namespace); err != nil {
		return nil, err
	}
	if err := kube.ValidateApplicationName(r.Application); err != nil {
		return nil, err
	}
	if r.DeployedVersion != "" {
		if errs := validation.IsValidLabelValue(r.DeployedVersion); len(errs) > 0 {
			return nil, fmt.Errorf("deployed version %q is not a valid version label", r.DeployedVersion)
		}
	}
	ns, name := r.Namespace, kube.AppRecordName(r.Application)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode application record %s/%s: %w", ns, name, err)
	}
	ours := kube.RecordLabels(r.Application, kube.RecordApplication)
	if r.DeployedVersion != "" {
		ours[kube.LabelVersion] = r.DeployedVersion
	}
	written, err := appRecords.upsert(ctx, s, ns, name, func(cur *corev1.ConfigMap) (*corev1.ConfigMap, error) {
		if cur != nil && !appRecords.ours(cur, r.Application) {
			return nil, appRecords.notOurs(cur, r.Application, "exists and is not")
		}
		// Written only over the record r was read as; the write carries that
		// resourceVersion (or is a create), so the API server refuses it if the record
		// changes in between.
		unchanged := (cur == nil && r.ResourceVersion == "") || (cur != nil && r.ResourceVersion != "" && cur.ResourceVersion == r.ResourceVersion)
		switch {
		case unchanged && cur == nil:
			return newRecordObject(ns, name, kube.MergeLabels(r.Labels, ours), nilIfEmpty(copyMap(r.Annotations)), data), nil
		case unchanged:
			// Replace the user labels/annotations we set before (a corrupt record set
			// nothing we know of); keep everything others set.
			prev, _ := appRecords.decode(cur)
			upd := cur.DeepCopy()
			upd.Labels = replaceUserKeys(upd.Labels, prev.Labels, r.Labels)
			upd = withData(upd, ours, data)
			upd.Annotations = nilIfEmpty(replaceUserKeys(upd.Annotations, prev.Annotations, r.Annotations))
			return upd, nil
		case cur != nil && cur.Data[kube.RecordDataKey] == string(data):
			return cur, nil
		}
		e := &recordChangedError{ns: ns, name: name, was: r.ResourceVersion}
		if cur != nil {
			e.now = cur.ResourceVersion
		}
		return nil, e
	})
	if err != nil {
		return nil, err
	}
	r.ResourceVersion = written.ResourceVersion
	return written, nil
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
// kube.AppOwnerRef). A missing record is not an error.
func (s *Store) DeleteAppRecord(ctx context.Context, ns, app string) (err error) {
	defer kube.PermissionHint(&err, ns)
	bg := metav1.DeletePropagationBackground
	return appRecords.remove(ctx, s, ns, kube.AppRecordName(app), metav1.DeleteOptions{PropagationPolicy: &bg})
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
