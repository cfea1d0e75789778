package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// A job cancelled outside Terraform checkpointed after its last savepoint: restore.strategy
// = "latest_state" (the default) plans the redeploy from its latest completed checkpoint and
// says so, records that checkpoint, and the new job restores it.
func TestDrift_LatestState_RestoresTheLatestCheckpoint(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	dir := snapshotRoot + "/checkpoints"
	s.deploy(checkpointed(1, "20ms", dir))
	s.mustApply(statefulFor(checkpointed(2, "20ms", dir), StateRunning), OpSavepointRedeploy)
	upgrade := s.record().LastSnapshotPath
	client := s.p.Flink(testNS, testApp)
	s.waitCheckpoints(jobGen2, 2)
	c := s.cluster()
	c.Cancel()
	st, err := client.Checkpoints(ctx, jobGen2)
	if err != nil || st.Latest.Completed == nil {
		t.Fatalf("checkpoints %+v, %v", st, err)
	}
	latest := st.Latest.Completed.ExternalPath

	desired := statefulFor(checkpointed(2, "20ms", dir), StateRunning)
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpDeploy {
		t.Fatalf("plan %s, %v; want deploy", plan.Operation, err)
	}
	if plan.RestorePath != latest {
		t.Errorf("plan restores %s, want the latest checkpoint %s (not the older upgrade savepoint %s)", plan.RestorePath, latest, upgrade)
	}
	wantContains(t, "plan summary", plan.Summary, latest, "latest checkpoint of job", "after the newest snapshot")
	s.mustApply(desired, OpDeploy)
	if got := s.cluster().RestoredFrom(); got != latest {
		t.Errorf("the new job restored %q, want %s", got, latest)
	}
	rec, ok := s.snapshotRecord(s.record().LastSnapshotName)
	if !ok || rec.Origin != records.OriginCheckpoint || rec.Path != latest || rec.JobID != jobGen2 {
		t.Errorf("last snapshot record %+v (found %v); want the checkpoint of job %s on record", rec, ok, jobGen2)
	}
}

// With the JobManager gone, the checkpoint directory is read: a suspend's savepoint, written
// after the job's last checkpoint, is the newest state, and resume restores it.
func TestResume_LatestState_SuspendSavepointIsNewerThanTheCheckpoints(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	dir := snapshotRoot + "/checkpoints"
	s.deploy(checkpointed(1, "20ms", dir))
	s.waitCheckpoints(jobGen1, 2)
	s.mustApply(statefulFor(checkpointed(1, "20ms", dir), StateSuspended), OpSuspend)
	suspend := s.record().LastSnapshotPath
	if chk, _ := s.p.latestRetainedCheckpoint(ctx, &Current{JobID: jobGen1, Version: checkpointed(1, "20ms", dir)}); !strings.Contains(chk, "/chk-") {
		t.Fatalf("no retained checkpoint in the store (%q): the test would not compare anything", chk)
	}
	plan, err := s.p.PlanChange(ctx, statefulFor(checkpointed(1, "20ms", dir), StateRunning))
	if err != nil || plan.RestorePath != suspend {
		t.Errorf("resume restores %q (%v), want the suspend savepoint %s", plan.RestorePath, err, suspend)
	}
}

// restore.strategy = "latest_snapshot" keeps to snapshots, whatever the job checkpointed.
func TestDrift_LatestSnapshot_IgnoresCheckpoints(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	dir := snapshotRoot + "/checkpoints"
	s.deploy(checkpointed(1, "20ms", dir))
	s.waitCheckpoints(jobGen1, 1)
	s.cluster().Cancel()
	desired := statefulFor(checkpointed(1, "20ms", dir), StateRunning)
	desired.Restore.Strategy = RestoreLatestSnapshot
	plan, err := s.p.PlanChange(ctx, desired)
	if err != nil || plan.Operation != OpDeploy || plan.RestorePath != "" {
		t.Errorf("plan %s from %q (%v); want deploy with empty state (no snapshot exists)", plan.Operation, plan.RestorePath, err)
	}
	if s.cluster().JobState() != flink.JobCanceled {
		t.Fatal("test setup: the job should be cancelled")
	}
}

// Flink's checkpoint statistics lag: a job that ended just after completing a checkpoint may
// still report the one before as its latest, whose files the newer one subsumed (deleted).
// The plan restores the newest complete checkpoint in the job's directory. (Found failing in
// CI: the e2e drift scenario's plan refused, calling the reported checkpoint "no longer
// whole", though a newer one was on disk.)
func TestDrift_LatestState_StaleStatistics_RestoresTheNewestCheckpointOnDisk(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	dir := snapshotRoot + "/checkpoints"
	s.deploy(checkpointed(1, "20ms", dir))
	s.waitCheckpoints(jobGen1, 2)
	s.cluster().Cancel()
	st, err := s.p.Flink(testNS, testApp).Checkpoints(ctx, jobGen1)
	if err != nil || st.Latest.Completed == nil {
		t.Fatalf("checkpoints %+v, %v", st, err)
	}
	reported := st.Latest.Completed.ExternalPath
	newer := s.writeSavepoint(fmt.Sprintf("checkpoints/%s/chk-%d", jobGen1, st.Latest.Completed.ID+1))
	if err := s.store.Dispose(ctx, reported); err != nil {
		t.Fatal(err)
	}
	plan, err := s.p.PlanChange(ctx, statefulFor(checkpointed(1, "20ms", dir), StateRunning))
	if err != nil || plan.RestorePath != newer {
		t.Fatalf("plan restores %q (%v); want the newest checkpoint on disk %s, not the reported %s", plan.RestorePath, err, newer, reported)
	}
}
