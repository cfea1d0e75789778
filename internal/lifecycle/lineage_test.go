package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
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
