// Package records keeps the provider's own state in labelled ConfigMaps, as Helm keeps its
// releases: one application record per application (what is deployed, and the journal of
// the operation in progress), one immutable record per version, and one record per
// snapshot. It is the lifecycle's vocabulary (Journal, AppRecord, SnapshotRecord, origins,
// formats); internal/kube below it knows only Kubernetes.
package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// ErrNotFound is returned (wrapped) when a record does not exist; test with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrImmutable is returned (wrapped) by PutVersionRecord when a version record with the same
// label but different content exists.
var ErrImmutable = errors.New("versions are immutable")

// ErrRecordChanged is returned (wrapped) by PutAppRecord when the application record was
// changed by another writer since the caller read it.
var ErrRecordChanged = errors.New("application record changed by another writer")

// maxRecordConflicts bounds the writes of one Put that lose a race with another writer.
const maxRecordConflicts = 5

// Store reads and writes records through the provider's Kubernetes client. It holds no
// state of its own: New is cheap.
type Store struct{ kube *kube.Client }

// New returns the record store on c.
func New(c *kube.Client) *Store { return &Store{kube: c} }

// kind is one kind of record: its name in messages, its LabelRecord value, and what a
// decoded record takes from the ConfigMap it was read from.
type kind[T any] struct {
	noun  string
	label string
	// of names a record of one application in messages, e.g. "a version record of application %q".
	of   string
	fill func(r *T, cm *corev1.ConfigMap)
}

// decode reads the record stored as JSON under RecordDataKey.
func (k kind[T]) decode(cm *corev1.ConfigMap) (T, error) {
	var r T
	raw, ok := cm.Data[kube.RecordDataKey]
	if !ok {
		return r, fmt.Errorf("%s %s/%s is corrupt: no %q key", k.noun, cm.Namespace, cm.Name, kube.RecordDataKey)
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return r, fmt.Errorf("%s %s/%s is corrupt: %w", k.noun, cm.Namespace, cm.Name, err)
	}
	if k.fill != nil {
		k.fill(&r, cm)
	}
	return r, nil
}

// ours reports whether cm is a record of this kind (of application app unless app is "").
func (k kind[T]) ours(cm *corev1.ConfigMap, app string) bool {
	l := cm.Labels
	return l[kube.LabelManagedBy] == kube.ManagedByValue && l[kube.LabelRecord] == k.label && (app == "" || l[kube.LabelName] == app)
}

// get reads the record in ConfigMap ns/name. A missing one is an error wrapping ErrNotFound
// that names it as missing; a ConfigMap of that name that is not such a record is an error.
func (k kind[T]) get(ctx context.Context, s *Store, ns, name, app, missing string) (T, *corev1.ConfigMap, error) {
	var zero T
	cm, err := s.kube.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return zero, nil, fmt.Errorf("%s: %w", missing, ErrNotFound)
	}
	if err != nil {
		return zero, nil, fmt.Errorf("read %s %s/%s: %w", k.noun, ns, name, err)
	}
	if !k.ours(cm, app) {
		return zero, nil, k.notOurs(cm, app, "is not")
	}
	r, err := k.decode(cm)
	return r, cm, err
}

func (k kind[T]) notOurs(cm *corev1.ConfigMap, app, verb string) error {
	what := "a " + k.noun
	if app != "" {
		what = fmt.Sprintf(k.of, app)
	}
	return fmt.Errorf("ConfigMap %s/%s %s %s managed by %s", cm.Namespace, cm.Name, verb, what, kube.ManagedByValue)
}

// list reads the records that selector matches, with one LIST call.
func (k kind[T]) list(ctx context.Context, s *Store, ns, selector string) ([]T, error) {
	list, err := s.kube.Kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list %ss in %s: %w", k.noun, ns, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := make([]T, 0, len(list.Items))
	for i := range list.Items {
		r, err := k.decode(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// upsert reads ConfigMap ns/name (nil when there is none) and lets change decide what to
// store: a new object (created when there was none, else updated), or cur itself when
// nothing needs writing. A write that loses a race with another writer (conflict, already
// exists) is read and decided again, up to maxRecordConflicts times; throttling and server
// errors are retried (kube.Client.RetryTransient).
func (k kind[T]) upsert(ctx context.Context, s *Store, ns, name string, change func(cur *corev1.ConfigMap) (*corev1.ConfigMap, error)) (*corev1.ConfigMap, error) {
	cms := s.kube.Kube.CoreV1().ConfigMaps(ns)
	create := metav1.CreateOptions{FieldManager: s.kube.FieldManagerName()}
	update := metav1.UpdateOptions{FieldManager: s.kube.FieldManagerName()}
	writeOnce := func() (*corev1.ConfigMap, error) {
		cur, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cur, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s %s/%s: %w", k.noun, ns, name, err)
		}
		next, err := change(cur)
		if err != nil || next == cur {
			return next, err
		}
		verb, written := "update", (*corev1.ConfigMap)(nil)
		if cur == nil {
			verb = "create"
			written, err = cms.Create(ctx, next, create)
		} else {
			written, err = cms.Update(ctx, next, update)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s %s/%s: %w", verb, k.noun, ns, name, err)
		}
		return written, nil
	}
	var written *corev1.ConfigMap
	err := s.kube.RetryTransient(ctx, func() error {
		for attempt := 1; ; attempt++ {
			cm, err := writeOnce()
			if err == nil {
				written = cm
				return nil
			}
			if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
				return err
			}
			if attempt == maxRecordConflicts {
				return fmt.Errorf("write %s %s/%s: gave up after repeated conflicts: %w", k.noun, ns, name, err)
			}
		}
	})
	return written, err
}

// newRecordObject is the ConfigMap of a record not stored yet.
func newRecordObject(ns, name string, labels, annotations map[string]string, data []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
		Data:       map[string]string{kube.RecordDataKey: string(data)},
	}
}

// withData returns a copy of cur holding data and our labels (the version label goes when
// ours has none); labels others set are kept.
func withData(cur *corev1.ConfigMap, ours map[string]string, data []byte) *corev1.ConfigMap {
	upd := cur.DeepCopy()
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	delete(upd.Labels, kube.LabelVersion)
	for k, v := range ours {
		upd.Labels[k] = v
	}
	if upd.Data == nil {
		upd.Data = map[string]string{}
	}
	upd.Data[kube.RecordDataKey] = string(data)
	return upd
}

// remove deletes ConfigMap ns/name with opts; a missing one is not an error.
func (k kind[T]) remove(ctx context.Context, s *Store, ns, name string, opts metav1.DeleteOptions) error {
	err := s.kube.RetryTransient(ctx, func() error {
		return s.kube.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, name, opts)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s: %w", k.noun, ns, name, err)
	}
	return nil
}
