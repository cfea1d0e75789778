package lifecycle

import (
	"context"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
)

// reprocessing is v2 running after an upgrade from v1, whose savepoint is the older snapshot
// a configuration may choose to reprocess from.
func reprocessing(t *testing.T) (*stateful, Desired) {
	s := newStateful(t)
	s.deploy(versionN(1))
	s.mustApply(statefulFor(versionN(2), StateRunning), OpSavepointRedeploy)
	s.chosen = s.snapshotRecords()[0]
	d := statefulFor(versionN(2), StateRunning)
	d.Restore = Restore{Strategy: RestoreSnapshot, SnapshotName: s.chosen.Name}
	return s, d
}

// A running application whose restore.snapshot_id newly names a snapshot plans reprocess
// (not none): the job stops with a savepoint, which is recorded, and starts again from the
// chosen snapshot; the next plan is clean.
func TestReprocess_StartsFromTheChosenSnapshotKeepingASavepoint(t *testing.T) {
	t.Parallel()
	s, d := reprocessing(t)
	ctx := context.Background()
	plan, err := s.p.PlanChange(ctx, d)
	if err != nil || plan.Operation != OpReprocess || plan.RestorePath != s.chosen.Path || !plan.RecordsSnapshot {
		t.Fatalf("PlanChange = %+v, %v; want reprocess from %s recording a snapshot", plan, err, s.chosen.Path)
	}
	wantContains(t, "plan summary", plan.Summary, "stop job", "with a savepoint", "start version v2 from snapshot "+s.chosen.Name, s.chosen.Path)

	s.mustApply(d, OpReprocess)
	taken := s.savepointsTaken()
	if len(taken) != 2 {
		t.Fatalf("savepoints taken %q, want the upgrade's and the reprocess's", taken)
	}
	if c := s.cluster(); c.RestoredFrom() != s.chosen.Path || c.JobState() != flink.JobRunning {
		t.Errorf("job %s restoring %q, want RUNNING from %s", c.JobState(), c.RestoredFrom(), s.chosen.Path)
	}
	rec := s.record()
	if !samePath(rec.LastSnapshotPath, taken[1]) || rec.RestoredSnapshot != s.chosen.Name || rec.Journal != nil {
		t.Errorf("record: last snapshot %s, started from %q, journal %+v; want the reprocess savepoint %s, %s, none",
			rec.LastSnapshotPath, rec.RestoredSnapshot, rec.Journal, taken[1], s.chosen.Name)
	}
	if plan, err := s.p.PlanChange(ctx, d); err != nil || plan.Operation != OpNone {
		t.Errorf("the next plan = %+v, %v; want none", plan, err)
	}
}

// A reprocessed version that does not become healthy rolls back to the version that ran,
// from the savepoint the reprocess took (never from the chosen snapshot), and the next plan
// asks for the reprocess again.
func TestReprocess_UnhealthyRollsBackFromItsSavepoint(t *testing.T) {
	t.Parallel()
	s, d := reprocessing(t)
	s.kubelet.setFailVersion("v3", rootCauseMsg)
	d.Version = versionN(3)
	if _, err := s.apply(d, OpReprocess); err == nil {
		t.Fatal("Apply succeeded although v3 failed")
	} else {
		wantContains(t, "error", err.Error(), "version v3 did not become healthy", "rolled back to version v2")
	}
	taken := s.savepointsTaken()
	c := s.cluster()
	if c.RestoredFrom() != taken[len(taken)-1] || c.JobState() != flink.JobRunning || s.record().DeployedVersion != "v2" {
		t.Errorf("after the rollback %s runs restoring %q; want v2 RUNNING from the reprocess savepoint %s",
			s.record().DeployedVersion, c.RestoredFrom(), taken[len(taken)-1])
	}
	if rec := s.record(); rec.RestoredSnapshot != "" {
		t.Errorf("the record says the application started from %q after the rollback", rec.RestoredSnapshot)
	}
	if plan, err := s.p.PlanChange(context.Background(), d); err != nil || plan.Operation != OpReprocess {
		t.Errorf("the next plan = %+v, %v; want reprocess again", plan, err)
	}
}

// An apply that dies after the reprocess savepoint, before the new job starts, is continued
// from the chosen snapshot while the configuration still names it; once the configuration
// names it no more, from the savepoint: the newest state, not an older one nobody asks for.
func TestReprocess_InterruptedAfterTheSavepoint(t *testing.T) {
	t.Parallel()
	for _, still := range []bool{true, false} {
		name := "configuration still names the snapshot"
		if !still {
			name = "configuration no longer names it"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, d := reprocessing(t)
			c := s.crashAt(stepTaken)
			if _, err := s.p.Apply(c.ctx, d, OpReprocess, s.progressFn()); err == nil {
				t.Fatal("the apply survived its crash")
			}
			c.over()
			s.restart()
			rec := s.record()
			if rec.Journal == nil || rec.Journal.SnapshotName == "" || rec.Journal.RestoreSnapshot != s.chosen.Name {
				t.Fatalf("journal after the crash %+v; want the recorded savepoint and the chosen snapshot", rec.Journal)
			}
			savepoint := rec.Journal.SavepointPath
			want := s.chosen.Path
			if !still {
				d.Restore = Restore{Strategy: RestoreLatestState}
				want = savepoint
			}
			plan, err := s.p.PlanChange(context.Background(), d)
			if err != nil || plan.Operation != OpRecover {
				t.Fatalf("PlanChange = %+v, %v; want recover", plan, err)
			}
			if still {
				wantContains(t, "plan summary", plan.Summary, "reprocess starts from snapshot "+s.chosen.Name)
			}
			s.mustApply(d, OpRecover)
			if got := s.cluster().RestoredFrom(); got != want {
				t.Errorf("the recovered job restored %q, want %s", got, want)
			}
			if plan, err := s.p.PlanChange(context.Background(), d); err != nil || plan.Operation != OpNone {
				t.Errorf("the next plan = %+v, %v; want none", plan, err)
			}
		})
	}
}

// A snapshot the application started from is restored once: the next start (here a resume
// after a suspend, the configuration unchanged) restores the application's newer state, not
// the chosen snapshot again. (Once a bug: every resume went back to the chosen snapshot,
// discarding what the job had processed since.)
func TestResume_AfterStartingFromAChosenSnapshot_RestoresTheNewerState(t *testing.T) {
	t.Parallel()
	s, d := reprocessing(t)
	s.mustApply(d, OpReprocess)
	suspend := d
	suspend.State = StateSuspended
	s.mustApply(suspend, OpSuspend)
	suspended := s.record().LastSnapshotPath

	plan, err := s.p.PlanChange(context.Background(), d)
	if err != nil || plan.Operation != OpResume || plan.RestorePath != suspended {
		t.Fatalf("PlanChange(resume) = %+v, %v; want resume from the suspend savepoint %s", plan, err, suspended)
	}
	wantContains(t, "plan summary", plan.Summary, "it started from snapshot "+s.chosen.Name+" before")
	s.mustApply(d, OpResume)
	if got := s.cluster().RestoredFrom(); got != suspended {
		t.Errorf("resumed from %q, want the suspend savepoint %s", got, suspended)
	}
}
