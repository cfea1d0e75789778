package lifecycle

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// Every operation of a full lifecycle leaves an Event with its reason on the application, so
// `kubectl get events` tells its history: deploy, upgrade (its savepoint and the new job),
// retention pruning the older upgrade's snapshot, a failed upgrade's rollback, suspend,
// resume, a stateless upgrade (the job cancelled), cancel, a flink_snapshot, adopting and
// disposing a snapshot, and destroy with its final snapshot. (A lock taken over: see
// TestAccStreamingApplication_lock.)
func TestEvents_EveryOperationLeavesOne(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	seen := map[string]bool{}
	newEvents := func() (out []string) { // "Type/Reason" of the Events not seen before
		list, err := s.fake.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if !seen[e.Name] {
				seen[e.Name] = true
				out = append(out, e.Type+"/"+e.Reason)
			}
		}
		return out
	}
	step := func(what string, do func(), want ...string) {
		t.Helper()
		newEvents()
		do()
		got := newEvents()
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: Events %q, want %s among them", what, got, w)
			}
		}
	}
	step("deploy", func() { s.deploy(versionN(1)) }, "Normal/"+EventDeploying, "Normal/"+EventDeployed)
	step("upgrade", func() { s.upgradeTo(2, Retention{}) },
		"Normal/"+EventSnapshotTaken, "Normal/"+EventDeploying, "Normal/"+EventUpgraded)
	step("upgrade with retention", func() { s.upgradeTo(3, Retention{MaxCount: 1}) },
		"Normal/"+EventSnapshotTaken, "Normal/"+EventUpgraded, "Normal/"+EventSnapshotPruned)
	s.kubelet.setFailVersion("v4", rootCauseMsg)
	step("failed upgrade", func() {
		if _, err := s.apply(statefulFor(versionN(4), StateRunning), OpSavepointRedeploy); err == nil {
			t.Fatal("v4 did not fail")
		}
	}, "Normal/"+EventSnapshotTaken, "Warning/"+EventRollingBack, "Warning/"+EventRolledBack, "Warning/"+EventApplyFailed)
	step("suspend", func() { s.mustApply(statefulFor(versionN(3), StateSuspended), OpSuspend) },
		"Normal/"+EventSnapshotTaken, "Normal/"+EventSuspended)
	step("resume", func() { s.mustApply(statefulFor(versionN(3), StateRunning), OpResume) },
		"Normal/"+EventDeploying, "Normal/"+EventResumed)
	stateless := statefulFor(versionN(5), StateRunning)
	stateless.UpgradeMode = UpgradeStateless
	step("stateless upgrade", func() { s.mustApply(stateless, OpStatelessRedeploy) },
		"Normal/"+EventJobCancelled, "Normal/"+EventDeploying, "Normal/"+EventUpgraded)
	step("cancel", func() { s.mustApply(statefulFor(versionN(5), StateCancelled), OpCancel) },
		"Normal/"+EventJobCancelled, "Normal/"+EventCancelled)
	step("start after cancel", func() { s.mustApply(statefulFor(versionN(5), StateRunning), OpDeploy) },
		"Normal/"+EventDeploying, "Normal/"+EventDeployed)
	step("flink_snapshot", func() {
		if _, err := s.p.TakeSnapshot(ctx, testNS, testApp, statefulFor(versionN(5), StateRunning).Savepoint, s.progressFn()); err != nil {
			t.Fatal(err)
		}
	}, "Normal/"+EventSnapshotTaken)
	var adopted records.SnapshotRecord
	step("adopt", func() {
		var err error
		adopted, err = s.p.AdoptSnapshot(ctx, testNS, testApp, s.writeSavepoint("payments/fraud/adopted"), records.FormatCanonical, s.progressFn())
		if err != nil {
			t.Fatal(err)
		}
	}, "Normal/"+EventSnapshotAdopted)
	step("dispose", func() {
		if err := s.p.DisposeSnapshot(ctx, adopted, s.progressFn()); err != nil {
			t.Fatal(err)
		}
	}, "Normal/"+EventSnapshotDisposed)
	step("destroy", func() {
		if err := s.p.Delete(ctx, testNS, testApp, DestroySavepoint, statefulFor(versionN(5), StateRunning).Savepoint, s.progressFn()); err != nil {
			t.Fatal(err)
		}
	}, "Normal/"+EventSnapshotTaken, "Normal/"+EventDestroyed)
}
