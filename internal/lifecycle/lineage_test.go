package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// Each snapshot names the snapshot its job started from; Snapshots shows the trail both ways
// and what needs each snapshot's files, and the provider disposes none that something needs,
// naming what does.
func TestLineage_TrailOfOneApplication(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	s.deploy(versionN(1))
	first := s.upgradeTo(2, Retention{})  // v1 started with empty state
	second := s.upgradeTo(3, Retention{}) // v2 started from first
	if first.Parent != "" || second.Parent != first.Name {
		t.Fatalf("parents: %s <- %q, %s <- %q; want none, then %s", first.Name, first.Parent, second.Name, second.Parent, first.Name)
	}
	if first.VersionLabel != "v1" || first.Origin != records.OriginUpgrade || second.VersionLabel != "v2" {
		t.Errorf("where they came from: %s %s, %s %s; want upgrade savepoints of v1 and v2", first.Origin, first.VersionLabel, second.Origin, second.VersionLabel)
	}

	lineage := s.lineage()
	if got := lineage[first.Name]; !slices.Equal(got.Children, []string{second.Name}) || len(got.UsedBy) != 0 {
		t.Errorf("%s: children %q, used by %q; want %s, nothing", first.Name, got.Children, got.UsedBy, second.Name)
	}
	usedBy := lineage[second.Name].UsedBy
	if len(usedBy) != 1 || !strings.Contains(usedBy[0], "application fraud runs from it") {
		t.Errorf("%s used by %q; want the application running from it", second.Name, usedBy)
	}
	err := s.p.DisposeSnapshot(ctx, second, s.progressFn())
	if !errors.Is(err, ErrSnapshotInUse) || !strings.Contains(err.Error(), "application fraud runs from it") {
		t.Errorf("disposing the snapshot the job runs from: %v; want it refused naming the application", err)
	}
	if !s.savepointExists(second.Path) {
		t.Errorf("the files of %s were deleted", second.Name)
	}
	if err := s.p.DisposeSnapshot(ctx, first, s.progressFn()); err != nil {
		t.Errorf("disposing %s, which nothing needs: %v", first.Name, err)
	}

	// Suspended, the application would resume from its newest state: that one is needed.
	s.mustApply(statefulFor(versionN(3), StateSuspended), OpSuspend)
	suspend, _ := s.snapshotRecord(s.record().LastSnapshotName)
	lineage = s.lineage()
	if got := lineage[suspend.Name]; suspend.Parent != second.Name || len(got.UsedBy) != 1 ||
		!strings.Contains(got.UsedBy[0], "is suspended and would resume from it") {
		t.Errorf("suspend savepoint %s: parent %q, used by %q; want %s, the suspended application", suspend.Name, suspend.Parent, got.UsedBy, second.Name)
	}
	if got := lineage[second.Name].UsedBy; len(got) != 0 {
		t.Errorf("%s used by %q once the job that ran from it stopped; want nothing", second.Name, got)
	}
}

// lineage is Snapshots of the test namespace by record name.
func (s *stateful) lineage() map[string]SnapshotLineage {
	s.t.Helper()
	list, err := s.p.Snapshots(context.Background(), testNS, records.SnapshotFilter{})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]SnapshotLineage{}
	for _, l := range list {
		out[l.Name] = l
	}
	return out
}

// A copy is read back where it lies before anything can restore it: a copy without its
// _metadata, or with fewer bytes than its source, is refused.
func TestVerifyCopy_RefusesACopyThatIsNotWhole(t *testing.T) {
	ctx := context.Background()
	store, err := snapshots.Open(ctx, "mem://dr")
	if err != nil {
		t.Fatal(err)
	}
	const path = "mem://dr/savepoint-1"
	if err := verifyCopy(ctx, store, path, 5); err == nil || !strings.Contains(err.Error(), "cannot be read back") {
		t.Errorf("a copy that is not there: %v", err)
	}
	if err := store.WriteSavepoint(ctx, path, map[string][]byte{"op-state": []byte("state")}); err != nil {
		t.Fatal(err)
	}
	size, err := store.Size(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyCopy(ctx, store, path, size+1); err == nil || !strings.Contains(err.Error(), "it is not whole") {
		t.Errorf("a copy one byte short: %v", err)
	}
	if err := verifyCopy(ctx, store, path, size); err != nil {
		t.Errorf("a whole copy: %v", err)
	}
}
