package records

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

var versionRecords = kind[spec.Version]{noun: "version record", label: kube.RecordVersion, of: "a version record of application %q"}

// PutVersionRecord stores version v in its immutable version record. Storing the same
// content again succeeds; different content under an existing label fails with an error
// wrapping ErrImmutable.
func (s *Store) PutVersionRecord(ctx context.Context, v spec.Version) (err error) {
	defer kube.PermissionHint(&err, v.Namespace)
	if err := kube.ValidateNamespace(v.Namespace); err != nil {
		return err
	}
	if err := kube.ValidateApplicationName(v.Application); err != nil {
		return err
	}
	if err := kube.ValidateVersionLabel(v.Application, v.Label); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode version %s: %w", v.ID(), err)
	}
	name := kube.VersionRecordName(v.Application, v.Label)
	labels := kube.RecordLabels(v.Application, kube.RecordVersion)
	labels[kube.LabelVersion] = v.Label
	_, err = versionRecords.upsert(ctx, s, v.Namespace, name, func(cur *corev1.ConfigMap) (*corev1.ConfigMap, error) {
		if cur == nil {
			cm := newRecordObject(v.Namespace, name, labels, nil, data)
			immutable := true
			cm.Immutable = &immutable
			return cm, nil
		}
		// Compare with what is stored (perhaps our own create whose answer was lost).
		if !versionRecords.ours(cur, v.Application) {
			return nil, versionRecords.notOurs(cur, v.Application, "exists and is not")
		}
		existing, err := versionRecords.decode(cur)
		if err != nil {
			return nil, err
		}
		if diff := versionDiff(existing, v); len(diff) > 0 {
			return nil, fmt.Errorf("version %s already exists with different %q: %w; create a new version label instead",
				v.ID(), diff, ErrImmutable)
		}
		return cur, nil
	})
	return err
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

// GetVersionRecord reads version label of application app. A missing record is an error
// wrapping ErrNotFound.
func (s *Store) GetVersionRecord(ctx context.Context, ns, app, label string) (_ spec.Version, err error) {
	defer kube.PermissionHint(&err, ns)
	v, _, err := versionRecords.get(ctx, s, ns, kube.VersionRecordName(app, label), app, fmt.Sprintf("version %s/%s/%s", ns, app, label))
	return v, err
}

// DeleteVersionRecord deletes a version record; a missing record is not an error.
func (s *Store) DeleteVersionRecord(ctx context.Context, ns, app, label string) (err error) {
	defer kube.PermissionHint(&err, ns)
	return versionRecords.remove(ctx, s, ns, kube.VersionRecordName(app, label), metav1.DeleteOptions{})
}
