package lifecycle

// Harness additions for the stateful step machine: a snapshot store in a shared in-memory
// bucket that the emulated JobManagers write their savepoints into, a timeline of every
// write the provider makes (records, Deployments, bucket deletes) interleaved with the Flink
// requests it sends, and a way to make the provider process "die" at a chosen step and
// start a fresh one.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots/snapshotstest"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// snapshotRoot is the provider's snapshot_storage_url in stateful tests. Savepoints go to
// <root>/<namespace>/<app>; the store behind it is an in-memory bucket.
const snapshotRoot = "s3://flink-snapshots/prod"

// savepointDataFile is written, besides _metadata, into every emulated savepoint.
const savepointDataFile = "op-state/part-00000"

// stateful is a harness with a snapshot store and a timeline.
type stateful struct {
	*harness
	store  *snapshots.Store
	bucket *snapshotstest.Recorder

	tlMu     sync.Mutex
	timeline []string
	// afterFlink, when set, sees every answered Flink request after it is on the timeline.
	afterFlink flinkHook
	// shortSavepointTimeout makes the fault table's savepoint_timeout shorter than a slow
	// savepoint.
	shortSavepointTimeout atomic.Bool
	// chosen is the snapshot the fault table's reprocess restores.
	chosen records.SnapshotRecord
}

// onFlink installs fn to see every answered Flink request (nil removes it).
func (s *stateful) onFlink(fn flinkHook) {
	s.tlMu.Lock()
	defer s.tlMu.Unlock()
	s.afterFlink = fn
}

// newStateful returns a harness whose provider has snapshot_storage_url = snapshotRoot,
// served by an in-memory bucket that every emulated JobManager writes its savepoints into.
func newStateful(t *testing.T) *stateful {
	t.Helper()
	s := &stateful{harness: newHarness(t)}
	bucket, wrapped := snapshotstest.NewRecorder(memblob.OpenBucket(nil))
	bucket.OnDelete(func(key string) { s.note("blob delete " + key) })
	s.bucket = bucket
	t.Cleanup(func() {
		if err := wrapped.Close(); err != nil {
			t.Errorf("close the snapshot bucket: %v", err)
		}
	})
	s.store = snapshots.OpenBucket(wrapped, snapshotRoot)
	s.p.SnapshotStorageURL = snapshotRoot
	store := s.store
	s.p.OpenStore = func(context.Context) (*snapshots.Store, error) { return store, nil }

	s.kubelet.mu.Lock()
	s.kubelet.onSavepoint = func(path string) error {
		return store.WriteSavepoint(context.Background(), path, map[string][]byte{
			savepointDataFile: []byte(strings.Repeat("x", 1000)),
		})
	}
	// Retained checkpoints inside the store get their _metadata too, as Flink writes them.
	s.kubelet.onCheckpoint = func(path string) {
		if _, err := store.Key(path); err == nil {
			_ = store.WriteSavepoint(context.Background(), path, nil)
		}
	}
	s.kubelet.note = s.note
	s.kubelet.mu.Unlock()

	s.fake.PrependReactor("*", "*", s.logWrite)
	s.rt.setHook(func(method, path string, body []byte, status int) {
		line := fmt.Sprintf("flink %s %s", method, path)
		var b struct {
			TriggerID string `json:"triggerId"`
		}
		if json.Unmarshal(body, &b) == nil && b.TriggerID != "" {
			line += " trigger=" + b.TriggerID
		}
		s.note(fmt.Sprintf("%s status=%d", line, status))
		s.tlMu.Lock()
		after := s.afterFlink
		s.tlMu.Unlock()
		if after != nil {
			after(method, path, body, status)
		}
	})
	return s
}

// waitCheckpoints waits until Flink reports n completed checkpoints of job.
func (s *stateful) waitCheckpoints(job string, n int64) {
	s.t.Helper()
	client := s.p.Flink(testNS, testApp)
	eventually(s.t, fmt.Sprintf("job %s completed %d checkpoints", job, n), func() bool {
		st, err := client.Checkpoints(context.Background(), job)
		return err == nil && st.Counts.Completed >= n
	})
}

func (s *stateful) note(line string) {
	s.tlMu.Lock()
	defer s.tlMu.Unlock()
	s.timeline = append(s.timeline, line)
}

// events returns the timeline so far.
func (s *stateful) events() []string {
	s.tlMu.Lock()
	defer s.tlMu.Unlock()
	return append([]string(nil), s.timeline...)
}

// mark starts a new section of the timeline; since returns the lines after it.
func (s *stateful) mark() int {
	s.tlMu.Lock()
	defer s.tlMu.Unlock()
	return len(s.timeline)
}

func (s *stateful) since(mark int) []string { return s.events()[mark:] }

// logWrite puts every write of records and cluster objects on the timeline.
func (s *stateful) logWrite(a k8stesting.Action) (bool, runtime.Object, error) {
	switch a.GetVerb() {
	case "create", "update":
		cm, ok := objectOf(a).(*corev1.ConfigMap)
		if !ok {
			return false, nil, nil
		}
		switch cm.Labels[kube.LabelRecord] {
		case kube.RecordApplication:
			s.note(a.GetVerb() + " " + describeAppRecord(cm))
		case kube.RecordSnapshot:
			var r records.SnapshotRecord
			_ = json.Unmarshal([]byte(cm.Data[kube.RecordDataKey]), &r)
			s.note(fmt.Sprintf("snapshot %s %s path=%s origin=%s state=%s managed=%s", a.GetVerb(), cm.Name, r.Path, r.Origin, r.State, r.ManagedBy))
		}
	case "patch":
		if a.GetResource().Resource == "deployments" {
			s.note("deployment apply " + a.(k8stesting.PatchAction).GetName())
		}
	case "delete":
		if a.GetResource().Resource == "configmaps" {
			name := a.(k8stesting.DeleteAction).GetName()
			if strings.HasPrefix(name, testApp+"-snap-") {
				s.note("snapshot delete " + name)
			} else if name == kube.AppRecordName(testApp) {
				s.note("delete record")
			}
		}
	}
	return false, nil, nil
}

// objectAction is a create or an update: both carry the object written.
type objectAction interface{ GetObject() runtime.Object }

func objectOf(a k8stesting.Action) runtime.Object {
	if a, ok := a.(objectAction); ok {
		return a.GetObject()
	}
	return nil
}

func decodeAppRecordCM(cm *corev1.ConfigMap) (records.AppRecord, bool) {
	var r records.AppRecord
	if cm == nil || cm.Name != kube.AppRecordName(testApp) || json.Unmarshal([]byte(cm.Data[kube.RecordDataKey]), &r) != nil {
		return r, false
	}
	return r, true
}

func describeAppRecord(cm *corev1.ConfigMap) string {
	r, _ := decodeAppRecordCM(cm)
	if r.Journal == nil {
		return fmt.Sprintf("record state=%s gen=%d journal=none", r.State, r.Generation)
	}
	j := r.Journal
	return fmt.Sprintf("record state=%s gen=%d step=%s trigger=%s savepoint=%s", r.State, r.Generation, j.Step, j.TriggerID, j.SavepointPath)
}

// ---- versions and desired states ----

// versionN is the test application's version "v<n>": each has its own image, so any two
// differ in what Flink runs.
func versionN(n int) spec.Version {
	v := testVersion(fmt.Sprintf("v%d", n))
	v.Image = fmt.Sprintf("registry.example.com/fraud:1.%d.0", n)
	return v
}

// statefulFor is an application with upgrade_mode savepoint, rollback on, and timeouts
// that keep tests short.
func statefulFor(v spec.Version, state string) Desired {
	return Desired{
		Namespace: testNS, Name: testApp, Version: v, State: state, UpgradeMode: UpgradeSavepoint,
		Savepoint: SavepointOptions{Timeout: 5 * time.Second},
		Rollback:  RollbackOptions{Enabled: true, ReadinessTimeout: 3 * time.Second},
	}
}

// ---- observations ----

// snapshotRecords lists the application's snapshot records, newest first.
func (s *stateful) snapshotRecords() []records.SnapshotRecord {
	s.t.Helper()
	list, err := s.p.Records().ListSnapshotRecords(context.Background(), testNS, records.SnapshotFilter{Application: testApp})
	if err != nil {
		s.t.Fatalf("ListSnapshotRecords: %v", err)
	}
	return list
}

// snapshotRecord reads one snapshot record; ok is false when it does not exist.
func (s *stateful) snapshotRecord(name string) (records.SnapshotRecord, bool) {
	s.t.Helper()
	r, err := s.p.Records().GetSnapshotRecord(context.Background(), testNS, name)
	if errors.Is(err, records.ErrNotFound) {
		return r, false
	}
	if err != nil {
		s.t.Fatalf("GetSnapshotRecord %s: %v", name, err)
	}
	return r, true
}

// savepointsTaken are the savepoints every JobManager ever started completed, in order.
func (s *stateful) savepointsTaken() []string {
	var all []string
	for _, c := range s.kubelet.clustersSoFar() {
		all = append(all, c.Savepoints()...)
	}
	return all
}

// savepointExists reports whether the savepoint's _metadata is in the bucket.
func (s *stateful) savepointExists(path string) bool {
	return s.store.Verify(context.Background(), path) == nil
}

// anyFileUnder reports whether any object of the savepoint directory is left.
func (s *stateful) anyFileUnder(path string) bool {
	s.t.Helper()
	key, err := s.store.Key(path)
	if err != nil {
		s.t.Fatalf("Key(%s): %v", path, err)
	}
	objs, _, err := s.store.Bucket().ListPage(context.Background(), blob.FirstPageToken, 1, &blob.ListOptions{Prefix: key + "/"})
	if err != nil {
		s.t.Fatalf("list %s: %v", key, err)
	}
	return len(objs) > 0
}

// writeSavepoint puts a complete savepoint at <root>/<rel> into the bucket.
func (s *stateful) writeSavepoint(rel string) string {
	s.t.Helper()
	path := snapshotRoot + "/" + rel
	if err := s.store.WriteSavepoint(context.Background(), path, map[string][]byte{savepointDataFile: []byte("state")}); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// flinkRequests are the timeline's Flink requests with the given method whose path ends
// with suffix.
func flinkRequests(lines []string, method, suffix string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "flink" && f[1] == method && strings.HasSuffix(f[2], suffix) {
			out = append(out, l)
		}
	}
	return out
}

// index is the position of the first line containing all of subs, or -1.
func index(lines []string, subs ...string) int {
	return slices.IndexFunc(lines, func(l string) bool {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				return false
			}
		}
		return true
	})
}

func fieldOf(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// eventually polls cond for up to 3s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refuseSnapshotRecords makes the API server refuse to create snapshot records (a full
// ConfigMap quota) while the returned flag is true.
func (s *stateful) refuseSnapshotRecords() *atomic.Bool {
	var on atomic.Bool
	on.Store(true)
	s.fake.PrependReactor("create", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		cm, ok := objectOf(a).(*corev1.ConfigMap)
		if !on.Load() || !ok || !strings.HasPrefix(cm.Name, testApp+"-snap-") {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(corev1.Resource("configmaps"), cm.Name,
			errors.New("exceeded quota: object-counts, requested: count/configmaps=1, used: count/configmaps=100, limited: count/configmaps=100"))
	})
	return &on
}

// ---- the provider process dies ----

var errProcessDied = errors.New("test: the provider process died")

// crash makes the provider process "die": from the moment it fires, the context of the
// apply in flight is cancelled and every write to the API server fails (Lease writes
// excepted, so that the next process need not wait for the lock to expire). It fires when
// the application record is written with journal step `step` (that write still succeeds),
// or when fire is called.
type crash struct {
	step    string
	ctx     context.Context
	cancel  context.CancelFunc
	fired   atomic.Bool
	stopped atomic.Bool
}

func (s *stateful) crashAt(step string) *crash {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.t.Cleanup(cancel)
	c := &crash{step: step, ctx: ctx, cancel: cancel}
	s.fake.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		verb := a.GetVerb()
		if c.stopped.Load() || a.GetResource().Resource == "leases" ||
			(verb != "create" && verb != "update" && verb != "patch" && verb != "delete") {
			return false, nil, nil
		}
		if c.fired.Load() {
			return true, nil, errProcessDied
		}
		if cm, ok := objectOf(a).(*corev1.ConfigMap); ok && c.step != "" {
			if r, ok := decodeAppRecordCM(cm); ok && r.Journal != nil && r.Journal.Step == c.step {
				c.fire()
			}
		}
		return false, nil, nil
	})
	return c
}

func (c *crash) fire() {
	c.fired.Store(true)
	c.cancel()
}

// over ends the failure: the API server accepts writes again.
func (c *crash) over() { c.stopped.Store(true) }

// restart replaces the provider process: a new Platform (new Lease identity, store opened
// anew) over the same API server, Flink and bucket.
func (s *stateful) restart() {
	old := s.p
	s.p = &Platform{
		Kube:  &kube.Client{Kube: old.Kube.Kube, FieldManager: old.Kube.FieldManager, Logf: old.Kube.Logf, TransientBackoff: old.Kube.TransientBackoff},
		Flink: old.Flink, RestURL: old.RestURL, DefaultNamespace: old.DefaultNamespace,
		SnapshotStorageURL: old.SnapshotStorageURL, OpenStore: old.OpenStore, Now: old.Now,
	}
}

// refuseDeletesOf makes the bucket refuse to delete the files of the savepoint at path, as
// it refuses a principal that may not delete.
func (s *stateful) refuseDeletesOf(path string) {
	s.t.Helper()
	key, err := s.store.Key(path)
	if err != nil {
		s.t.Fatal(err)
	}
	s.bucket.FailDelete(func(k string) error {
		if strings.HasPrefix(k, key+"/") {
			return permissionDenied{k}
		}
		return nil
	})
}

// permissionDenied is what a bucket answers a principal that may not delete.
type permissionDenied struct{ key string }

func (e permissionDenied) Error() string {
	return "AccessDenied: the principal may not s3:DeleteObject " + e.key
}
