package lifecycle

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// testClock is Platform.Now for tests: it moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// upgradeTo runs a savepoint upgrade to version n with retention and returns the snapshot
// it took.
func (s *stateful) upgradeTo(n int, retention Retention) records.SnapshotRecord {
	s.t.Helper()
	d := statefulFor(versionN(n), StateRunning)
	d.Retention = retention
	s.mustApply(d, OpSavepointRedeploy)
	snap, ok := s.snapshotRecord(s.record().LastSnapshotName)
	if !ok {
		s.t.Fatalf("the upgrade to v%d left no snapshot record", n)
	}
	return snap
}

// wantDisposedInOrder checks on the timeline that snap was marked disposing, then its
// _metadata and its other files deleted, and only then its record.
func (s *stateful) wantDisposedInOrder(tl []string, snap records.SnapshotRecord) {
	s.t.Helper()
	key, err := s.store.Key(snap.Path)
	if err != nil {
		s.t.Fatal(err)
	}
	iMark := index(tl, "snapshot update "+snap.Name, "state=disposing")
	iMeta := index(tl, "blob delete "+key+"/_metadata")
	iData := index(tl, "blob delete "+key+"/"+savepointDataFile)
	iRecord := index(tl, "snapshot delete "+snap.Name)
	if !(0 <= iMark && iMark < iMeta && iMeta < iData && iData < iRecord) {
		s.t.Errorf("disposal of %s: want marked disposing < _metadata deleted < files deleted < record deleted; indexes %d %d %d %d:\n%s",
			snap.Name, iMark, iMeta, iData, iRecord, strings.Join(tl, "\n"))
	}
}

func (s *stateful) wantSnapshot(what string, snap records.SnapshotRecord, exists bool) {
	s.t.Helper()
	_, rec := s.snapshotRecord(snap.Name)
	files := s.anyFileUnder(snap.Path)
	if rec != exists || files != exists {
		s.t.Errorf("%s snapshot %s (%s, origin %s): record exists %v, files exist %v; want %v",
			what, snap.Name, snap.Path, snap.Origin, rec, files, exists)
	}
}

func TestRetention_MaxCount(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	clock := newTestClock()
	s.p.Now = clock.Now
	ctx := context.Background()
	s.deploy(versionN(1))

	// Snapshots retention must never touch; all older than every automatic one.
	managedUser, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	releasedUser, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.p.ReleaseSnapshot(ctx, testNS, releasedUser.Name, false, s.progressFn()); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	imported, err := s.p.AdoptSnapshot(ctx, testNS, testApp, s.writeSavepoint("imported/savepoint-0"), records.FormatCanonical, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	longAgo := clock.Now().Add(-48 * time.Hour)
	destroy := records.SnapshotRecord{Namespace: testNS, Application: testApp, Name: "fraud-snap-20250227080000-000001",
		Path: s.writeSavepoint("payments/fraud/savepoint-final"), Origin: records.OriginDestroy, CreatedAt: longAgo, State: records.SnapshotCompleted}
	managedUpgrade := records.SnapshotRecord{Namespace: testNS, Application: testApp, Name: "fraud-snap-20250227080000-000002",
		Path: s.writeSavepoint("payments/fraud/savepoint-pinned"), Origin: records.OriginUpgrade, CreatedAt: longAgo,
		State: records.SnapshotCompleted, ManagedBy: records.SnapshotManagedByResource}
	for _, r := range []records.SnapshotRecord{destroy, managedUpgrade} {
		if err := s.p.Records().PutSnapshotRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	never := []records.SnapshotRecord{managedUser, releasedUser, imported, destroy, managedUpgrade}

	retention := Retention{MaxCount: 2}
	var auto []records.SnapshotRecord // oldest first
	for n := 2; n <= 5; n++ {
		clock.Add(time.Hour)
		mark := s.mark()
		auto = append(auto, s.upgradeTo(n, retention))
		tl := s.since(mark)
		for i, a := range auto {
			kept := i >= len(auto)-2
			s.wantSnapshot("automatic", a, kept)
			if i == len(auto)-3 {
				s.wantDisposedInOrder(tl, a)
			}
		}
		for _, k := range never {
			s.wantSnapshot("non-automatic", k, true)
		}
	}
	if rec := s.record(); rec.LastSnapshotName != auto[len(auto)-1].Name {
		t.Errorf("record's last snapshot %s, want the newest %s", rec.LastSnapshotName, auto[len(auto)-1].Name)
	}

	// A disposal the bucket refuses keeps the record and the files; the upgrade succeeds.
	victim := auto[len(auto)-2]
	s.refuseDeletesOf(victim.Path)
	clock.Add(time.Hour)
	newest := s.upgradeTo(6, retention)
	if _, ok := s.snapshotRecord(victim.Name); !ok || !s.savepointExists(victim.Path) {
		t.Errorf("snapshot %s whose disposal failed: record kept %v, files intact %v; want both", victim.Name, ok, s.savepointExists(victim.Path))
	}
	if !slices.ContainsFunc(s.progressLines(), func(l string) bool {
		return strings.Contains(l, "keeping snapshot "+victim.Name) && strings.Contains(l, "s3:DeleteObject")
	}) {
		t.Errorf("progress does not say why %s is kept: %q", victim.Name, s.progressLines())
	}
	s.wantSnapshot("newest", newest, true)
	for _, k := range never {
		s.wantSnapshot("non-automatic", k, true)
	}
}

// A disposal the bucket refuses at its first delete leaves the snapshot retryable: the next
// prune disposes it. (Once a bug: the record stayed "disposing" forever and the files leaked.)
func TestRetention_FailedDisposal_IsRetried(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	clock := newTestClock()
	s.p.Now = clock.Now
	s.deploy(versionN(1))
	retention := Retention{MaxCount: 1}
	first := s.upgradeTo(2, retention)
	s.refuseDeletesOf(first.Path)
	clock.Add(time.Hour)
	s.upgradeTo(3, retention)
	after, ok := s.snapshotRecord(first.Name)
	if !ok || !s.savepointExists(first.Path) {
		t.Fatalf("record kept %v, files intact %v; want both", ok, s.savepointExists(first.Path))
	}
	if after.State != records.SnapshotCompleted {
		t.Errorf("nothing of %s was deleted, but its record now says %q: it can no longer be restored", first.Name, after.State)
	}
	s.bucket.FailDelete(nil)
	clock.Add(time.Hour)
	s.upgradeTo(4, retention)
	if r, ok := s.snapshotRecord(first.Name); ok {
		t.Errorf("the storage works again, but %s (state %q) was not disposed: a failed disposal is never retried", first.Name, r.State)
	}
}

// Retention never disposes the snapshot the running job started from (the rendered
// configuration names it, and a restarted JobManager restores it again), even with
// max_count = 1 after a resume from an explicitly named older snapshot. (Once a bug.)
func TestRetention_NeverDisposesTheSnapshotTheRunningJobRestoredFrom(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	clock := newTestClock()
	s.p.Now = clock.Now
	s.deploy(versionN(1))
	older := s.upgradeTo(2, Retention{})
	clock.Add(time.Hour)
	s.mustApply(statefulFor(versionN(2), StateSuspended), OpSuspend)
	clock.Add(time.Hour)
	resume := statefulFor(versionN(2), StateRunning)
	resume.Restore = Restore{Strategy: RestoreSnapshot, SnapshotName: older.Name}
	resume.Retention = Retention{MaxCount: 1}
	s.mustApply(resume, OpResume)
	if c := s.cluster(); c.RestoredFrom() != older.Path {
		t.Fatalf("job restored %q, want %s", c.RestoredFrom(), older.Path)
	}
	if rec := s.record(); rec.RestorePath != older.Path {
		t.Fatalf("record restore path %s", rec.RestorePath)
	}
	s.wantSnapshot("restored by the running job", older, true)
}

func TestRetention_MaxAge(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	clock := newTestClock()
	s.p.Now = clock.Now
	s.deploy(versionN(1))
	retention := Retention{MaxAge: 90 * time.Minute}
	s1 := s.upgradeTo(2, retention)
	clock.Add(time.Hour)
	s2 := s.upgradeTo(3, retention)
	s.wantSnapshot("1h old", s1, true)
	clock.Add(time.Hour)
	mark := s.mark()
	s3 := s.upgradeTo(4, retention)
	s.wantSnapshot("2h old", s1, false)
	s.wantDisposedInOrder(s.since(mark), s1)
	s.wantSnapshot("1h old", s2, true)
	s.wantSnapshot("newest", s3, true)

	// Much later, any apply prunes again; the newest snapshot stays however old it is.
	clock.Add(100 * time.Hour)
	d := statefulFor(versionN(5), StateRunning)
	d.UpgradeMode, d.Retention = UpgradeStateless, retention
	s.mustApply(d, OpStatelessRedeploy)
	s.wantSnapshot("100h old", s2, false)
	s.wantSnapshot("newest (100h old)", s3, true)
	if rec := s.record(); rec.LastSnapshotName != s3.Name {
		t.Errorf("record's last snapshot %s, want %s", rec.LastSnapshotName, s3.Name)
	}
}

// ---- the lock ----

func TestApply_LockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	ctx := context.Background()
	other := &kube.Client{Kube: ctxHonouringClientset{s.fake}}
	holder := kube.LeaseHolder{Identity: "terraform-provider-flink@ci-runner-7/4242/0badcafe", Operation: "savepoint_redeploy to v9"}
	lock, err := other.AcquireLock(ctx, testNS, testApp, holder, kube.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lock.Release(ctx); err != nil {
			t.Errorf("Release: %v", err)
		}
	}()
	before := s.record()
	mark := s.mark()

	_, err = s.apply(statefulFor(versionN(2), StateRunning), OpSavepointRedeploy)
	if !errors.Is(err, kube.ErrLocked) {
		t.Fatalf("Apply under another's lock: %v; want ErrLocked", err)
	}
	wantContains(t, "error", err.Error(), holder.Identity, holder.Operation)
	err = s.p.Delete(ctx, testNS, testApp, DestroySavepoint, SavepointOptions{}, s.progressFn())
	if !errors.Is(err, kube.ErrLocked) {
		t.Errorf("Delete under another's lock: %v; want ErrLocked", err)
	}
	if _, err = s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{}, s.progressFn()); !errors.Is(err, kube.ErrLocked) {
		t.Errorf("TakeSnapshot under another's lock: %v; want ErrLocked", err)
	}

	for _, l := range s.since(mark) {
		if !strings.HasPrefix(l, "flink GET") {
			t.Errorf("something happened under another's lock: %s", l)
		}
	}
	if after := s.record(); !reflect.DeepEqual(after, before) {
		t.Errorf("record changed:\n%+v\nwant\n%+v", after, before)
	}
	if c := s.cluster(); c.JobID() != jobGen1 || c.JobState() != flink.JobRunning || len(c.Savepoints()) != 0 {
		t.Errorf("job %s is %s with savepoints %q", c.JobID(), c.JobState(), c.Savepoints())
	}
	if snaps := s.snapshotRecords(); len(snaps) != 0 {
		t.Errorf("snapshot records %+v", snaps)
	}
}

// ---- destroy ----

func TestDelete_OnDestroySavepoint(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	ctx := context.Background()
	if err := s.p.Delete(ctx, testNS, testApp, DestroySavepoint, SavepointOptions{Timeout: 5 * time.Second}, s.progressFn()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	taken := old.Savepoints()
	if len(taken) != 1 || old.JobState() != flink.JobFinished {
		t.Fatalf("savepoints %q, job %s; want one final savepoint and the job FINISHED", taken, old.JobState())
	}
	snaps := s.snapshotRecords()
	if len(snaps) != 1 || snaps[0].Origin != records.OriginDestroy || snaps[0].Path != taken[0] || snaps[0].State != records.SnapshotCompleted || snaps[0].SizeBytes == 0 {
		t.Fatalf("snapshot records %+v; want the final savepoint %s with origin destroy", snaps, taken[0])
	}
	if !s.savepointExists(taken[0]) {
		t.Errorf("the final savepoint's files are not in the store")
	}
	if _, _, err := s.p.Records().GetAppRecord(ctx, testNS, testApp); !errors.Is(err, records.ErrNotFound) {
		t.Errorf("application record after Delete: %v", err)
	}
	if !slices.ContainsFunc(s.progressLines(), func(l string) bool { return strings.Contains(l, "final savepoint "+taken[0]) }) {
		t.Errorf("progress does not name the final savepoint: %q", s.progressLines())
	}
}

func TestDelete_FinalSavepointFails_DeletesNothing(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	old.Faults().FailSavepoints("s3: AccessDenied")
	ctx := context.Background()
	mark := s.mark()
	err := s.p.Delete(ctx, testNS, testApp, DestroySavepoint, SavepointOptions{Timeout: 5 * time.Second}, s.progressFn())
	if err == nil {
		t.Fatal("Delete succeeded although the final savepoint failed")
	}
	wantContains(t, "error", err.Error(), "nothing was deleted", `on-destroy behaviour = "cancel"`)
	wantSetting(t, err, SettingOnDestroy)
	for _, l := range s.since(mark) {
		if strings.Contains(l, "delete") {
			t.Errorf("deleted something: %s", l)
		}
	}
	if old.JobState() != flink.JobRunning {
		t.Errorf("job is %s, want RUNNING", old.JobState())
	}
	if rec := s.record(); rec.State != StateRunning || rec.JobID != jobGen1 {
		t.Errorf("record %+v", rec)
	}
	for _, n := range []string{jmName(), tmName()} {
		if _, err := s.fake.AppsV1().Deployments(testNS).Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("Deployment %s: %v", n, err)
		}
	}
	if snaps := s.snapshotRecords(); len(snaps) != 0 {
		t.Errorf("snapshot records %+v", snaps)
	}
}

// A final savepoint that outlasts its timeout fails the destroy, and the retried destroy
// records the savepoint Flink completed meanwhile. (Once a bug: the trigger was kept
// nowhere, and the final savepoint was left in the bucket with no record naming it.)
func TestDelete_FinalSavepointTimesOut_RetryRecordsIt(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	old := s.cluster()
	old.Faults().SlowSavepoints(300 * time.Millisecond)
	ctx := context.Background()
	if err := s.p.Delete(ctx, testNS, testApp, DestroySavepoint, SavepointOptions{Timeout: 100 * time.Millisecond}, s.progressFn()); err == nil {
		t.Fatal("Delete succeeded although the final savepoint outlasted its timeout")
	}
	eventually(t, "the final savepoint completed in Flink", func() bool { return old.JobState() == flink.JobFinished })
	final := old.Savepoints()[0]
	if err := s.p.Delete(ctx, testNS, testApp, DestroySavepoint, SavepointOptions{Timeout: 5 * time.Second}, s.progressFn()); err != nil {
		t.Fatalf("retried Delete: %v", err)
	}
	if !slices.ContainsFunc(s.snapshotRecords(), func(r records.SnapshotRecord) bool { return r.Path == final }) {
		t.Errorf("the application is deleted, and its final savepoint %s is in the bucket but recorded nowhere (records: %+v)", final, s.snapshotRecords())
	}
}

// ---- flink_snapshot ----

func TestTakeSnapshot_Running(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	c := s.cluster()
	snap, err := s.p.TakeSnapshot(context.Background(), testNS, testApp, SavepointOptions{}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Savepoints()) != 1 || snap.Path != c.Savepoints()[0] || snap.Origin != records.OriginUser ||
		snap.ManagedBy != records.SnapshotManagedByResource || snap.JobID != jobGen1 || snap.SizeBytes == 0 {
		t.Errorf("snapshot %+v; savepoints %q", snap, c.Savepoints())
	}
	stored, ok := s.snapshotRecord(snap.Name)
	if ok && stored.CreatedAt.Equal(snap.CreatedAt) {
		stored.CreatedAt = snap.CreatedAt // the stored one has no monotonic reading
	}
	if !ok || !reflect.DeepEqual(stored, snap) {
		t.Errorf("stored record %+v, returned %+v", stored, snap)
	}
	if c.JobState() != flink.JobRunning || !s.savepointExists(snap.Path) {
		t.Errorf("job %s, files exist %v", c.JobState(), s.savepointExists(snap.Path))
	}
	if len(flinkRequests(s.events(), http.MethodPost, "/stop")) != 0 {
		t.Errorf("TakeSnapshot stopped the job")
	}
}

func TestAdoptSnapshot(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	ctx := context.Background()

	// Files but no _metadata: an incomplete savepoint.
	half := snapshotRoot + "/imported/savepoint-half"
	key, _ := s.store.Key(half)
	if err := s.store.Bucket().WriteAll(ctx, key+"/"+savepointDataFile, []byte("state"), nil); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		half: {half, "_metadata"},
		snapshotRoot + "/imported/savepoint-none":    {"savepoint-none", "_metadata"},
		"s3://another-bucket/savepoints/savepoint-1": {"outside snapshot store"},
	} {
		_, err := s.p.AdoptSnapshot(ctx, testNS, testApp, path, records.FormatCanonical, s.progressFn())
		if err == nil {
			t.Errorf("AdoptSnapshot(%s) succeeded", path)
			continue
		}
		wantContains(t, "AdoptSnapshot("+path+") error", err.Error(), want...)
	}
	if snaps := s.snapshotRecords(); len(snaps) != 0 {
		t.Errorf("snapshot records after refused adoptions: %+v", snaps)
	}

	good := s.writeSavepoint("imported/savepoint-good")
	snap, err := s.p.AdoptSnapshot(ctx, testNS, testApp, good, records.FormatNative, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	size, _ := s.store.Size(ctx, good)
	if snap.Path != good || snap.Origin != records.OriginImported || snap.ManagedBy != records.SnapshotManagedByResource ||
		snap.Format != records.FormatNative || snap.JobID != "" || snap.SizeBytes != size {
		t.Errorf("adopted %+v", snap)
	}
}

func TestCopyAndReleaseSnapshot(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	s.deploy(versionN(1))
	ctx := context.Background()
	source, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	destURL := "file://" + dir
	cp, err := s.p.CopySnapshot(ctx, testNS, source.Name, destURL, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	base := source.Path[strings.LastIndex(source.Path, "/")+1:]
	if cp.Path != "file://"+dir+"/"+base || cp.Origin != records.OriginCopied || cp.SourceSnapshot != source.Name ||
		cp.ManagedBy != records.SnapshotManagedByResource || cp.SizeBytes != source.SizeBytes || cp.Application != testApp {
		t.Errorf("copy %+v of %+v", cp, source)
	}
	dest, err := snapshots.Open(ctx, destURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := dest.Close(); err != nil {
			t.Errorf("close %s: %v", destURL, err)
		}
	}()
	if err := dest.Verify(ctx, cp.Path); err != nil {
		t.Errorf("the copy is not in the destination: %v", err)
	}
	if size, err := dest.Size(ctx, cp.Path); err != nil || size != source.SizeBytes {
		t.Errorf("copy size %d, %v; want %d", size, err, source.SizeBytes)
	}
	if !s.savepointExists(source.Path) {
		t.Errorf("the source is gone after the copy")
	}

	// retain: both stay, the record is nobody's any more.
	if _, err := s.p.ReleaseSnapshot(ctx, testNS, source.Name, false, s.progressFn()); err != nil {
		t.Fatal(err)
	}
	if r, ok := s.snapshotRecord(source.Name); !ok || r.ManagedBy != "" || r.State != records.SnapshotCompleted || !s.savepointExists(source.Path) {
		t.Errorf("after release(retain): record %+v (exists %v), files %v", r, ok, s.savepointExists(source.Path))
	}

	// delete: the files go first, then the record.
	other, err := s.p.TakeSnapshot(ctx, testNS, testApp, SavepointOptions{}, s.progressFn())
	if err != nil {
		t.Fatal(err)
	}
	mark := s.mark()
	if _, err := s.p.ReleaseSnapshot(ctx, testNS, other.Name, true, s.progressFn()); err != nil {
		t.Fatal(err)
	}
	s.wantSnapshot("released (delete)", other, false)
	s.wantDisposedInOrder(s.since(mark), other)
	// Releasing what is gone is fine.
	if _, err := s.p.ReleaseSnapshot(ctx, testNS, other.Name, true, s.progressFn()); err != nil {
		t.Errorf("second release: %v", err)
	}

	// The copy lives in another bucket; disposing it deletes it there.
	if _, err := s.p.ReleaseSnapshot(ctx, testNS, cp.Name, true, s.progressFn()); err != nil {
		t.Errorf("release(delete) of the copy in %s: %v", destURL, err)
	}
	if _, ok := s.snapshotRecord(cp.Name); ok {
		t.Errorf("the copy's record is still there")
	}
	if err := dest.Verify(ctx, cp.Path); err == nil {
		t.Errorf("the copy's files are still in %s", destURL)
	}
}
