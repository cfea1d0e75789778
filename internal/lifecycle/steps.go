package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// lock takes the application's Lease so two applies never interleave on one application.
// It fails at once, naming the holder, rather than queueing behind an unknown pipeline.
func (p *Platform) lock(ctx context.Context, namespace, name, operation string) (*kube.Lock, error) {
	return p.Kube.AcquireLock(ctx, namespace, name, kube.LeaseHolder{Identity: p.identity(), Operation: operation}, kube.LockOptions{})
}

// SavepointDirectory is where the lifecycle asks Flink to write an application's
// savepoints: the application's own setting, else a folder per application under the
// provider's snapshot storage, else "" (Flink's configured default).
func (p *Platform) SavepointDirectory(d Desired) string {
	if d.Savepoint.Directory != "" {
		return strings.TrimSuffix(d.Savepoint.Directory, "/")
	}
	if p.SnapshotStorageURL == "" {
		return ""
	}
	u, err := url.Parse(p.SnapshotStorageURL)
	if err != nil || u.Scheme == "mem" {
		return ""
	}
	u.RawQuery = ""
	return strings.TrimSuffix(u.String(), "/") + "/" + d.Namespace + "/" + d.Name
}

// checkPlan refuses, at plan time and again before apply, what cannot work.
func (p *Platform) checkPlan(ctx context.Context, plan Plan, current *Current, d Desired) error {
	switch plan.Operation {
	case OpSavepointRedeploy, OpSuspend:
		if p.SavepointDirectory(d) == "" && !hasAnyKey(currentConfig(current), "state.savepoints.dir", "execution.checkpointing.savepoint-dir") {
			return fmt.Errorf("%s: %s takes a savepoint, but no savepoint directory is known: set snapshot_storage_url in the "+
				"provider, savepoint_directory on the application, or state.savepoints.dir in the version's flink_configuration", d.Name, plan.Operation)
		}
	case OpLastStateRedeploy:
		if !hasAnyKey(currentConfig(current), "state.checkpoints.dir", "execution.checkpointing.dir") {
			return fmt.Errorf("%s: upgrade_mode = \"last_state\" restores the latest checkpoint, but the running version has no "+
				"checkpoint storage: set state.checkpoints.dir (Flink 2: execution.checkpointing.dir) in its flink_configuration, "+
				"or use upgrade_mode = \"savepoint\"", d.Name)
		}
	case OpDeploy, OpResume:
		if d.Restore.Strategy == RestoreSnapshot && !d.Restore.SnapshotPending {
			_, err := p.restoreSource(ctx, current, d)
			return err
		}
	}
	return nil
}

func currentConfig(current *Current) map[string]string {
	if current == nil {
		return nil
	}
	return current.Version.FlinkConfiguration
}

func hasAnyKey(m map[string]string, keys ...string) bool {
	for _, k := range keys {
		if m[k] != "" {
			return true
		}
	}
	return false
}

// restoreSource picks the snapshot a new job starts from when none is running. The latest
// strategies take the newest snapshot record of the application, which is never older than
// the last one the lifecycle took.
func (p *Platform) restoreSource(ctx context.Context, current *Current, d Desired) (kube.SnapshotRecord, error) {
	switch d.Restore.Strategy {
	case RestoreNone:
		return kube.SnapshotRecord{}, nil
	case RestoreSnapshot:
		if d.Restore.SnapshotName == "" {
			return kube.SnapshotRecord{}, fmt.Errorf("%s: restore.strategy = \"snapshot\" needs restore.snapshot_id", d.Name)
		}
		snap, err := p.Kube.GetSnapshotRecord(ctx, d.Namespace, d.Restore.SnapshotName)
		if errors.Is(err, kube.ErrNotFound) {
			return snap, fmt.Errorf("%s: restore.snapshot_id %q does not exist in namespace %s", d.Name, d.Restore.SnapshotName, d.Namespace)
		}
		if err == nil && snap.State != kube.SnapshotCompleted {
			return snap, fmt.Errorf("%s: snapshot %s is %s and cannot be restored", d.Name, snap.Name, snap.State)
		}
		return snap, err
	}
	snaps, err := p.Kube.ListSnapshotRecords(ctx, d.Namespace, kube.SnapshotFilter{Application: d.Name})
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	for _, s := range snaps { // newest first
		// An adopted or copied snapshot is recorded now but may hold older state: only
		// snapshots taken of this application's jobs count as its latest state.
		if s.State == kube.SnapshotCompleted && s.Origin != kube.OriginImported && s.Origin != kube.OriginCopied {
			return s, nil
		}
	}
	return kube.SnapshotRecord{}, nil
}

// stopWithSavepoint stops the record's job with a savepoint and records the snapshot. The
// trigger id, and then the savepoint's path, are saved in the journal before the next step,
// so a restarted provider asks Flink about the same savepoint and never loses one it took.
// Only a failure Flink itself reports leaves the job running for sure; any other failure
// (timeout, cancelled apply, lost connection) is a keepJournal error.
func (p *Platform) stopWithSavepoint(ctx context.Context, record *kube.AppRecord, opts SavepointOptions, origin string,
	save func(context.Context) error, progress Progress) (kube.SnapshotRecord, error) {
	client := p.Flink(record.Namespace, record.Application)
	j := record.Journal // every caller journals the operation first
	if j.TriggerID == "" {
		j.TriggerID = flink.NewTriggerID()
	}
	j.Step = stepSavepoint
	if err := save(ctx); err != nil {
		return kube.SnapshotRecord{}, err
	}
	desired := Desired{Namespace: record.Namespace, Name: record.Application, Savepoint: opts}
	format := strings.ToUpper(opts.Format)
	if format == "" {
		format = flink.FormatCanonical
	}
	progress(fmt.Sprintf("%s: stopping job %s with a savepoint", record.Application, shortJobID(record.JobID)))
	savepointCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	pending := func(err error) error {
		when := ""
		if savepointCtx.Err() != nil && ctx.Err() == nil {
			when = fmt.Sprintf(" within savepoint_timeout (%s)", opts.Timeout)
		}
		return &keepJournal{fmt.Errorf("the savepoint of job %s (trigger %s) did not complete%s: %w. Flink may still finish it, "+
			"so the next apply asks about it again before anything else", record.JobID, j.TriggerID, when, err)}
	}

	status, err := client.SavepointStatus(savepointCtx, record.JobID, j.TriggerID)
	switch {
	case err != nil && !flink.IsNotFound(err):
		return kube.SnapshotRecord{}, pending(err)
	case err == nil && status.Failed():
		// Flink answers a repeated trigger id with the old failure: a retry needs a new one.
		j.TriggerID = flink.NewTriggerID()
		if err := save(ctx); err != nil {
			return kube.SnapshotRecord{}, err
		}
		fallthrough
	case err != nil: // not sent yet
		if _, err := client.StopWithSavepoint(savepointCtx, record.JobID, flink.StopRequest{
			TargetDirectory: p.SavepointDirectory(desired), Drain: opts.Drain, FormatType: format, TriggerID: j.TriggerID,
		}); err != nil {
			var refused *flink.APIError
			if errors.As(err, &refused) && refused.StatusCode < 500 {
				return kube.SnapshotRecord{}, fmt.Errorf("stop-with-savepoint of job %s was refused; the job keeps running: %w", record.JobID, err)
			}
			return kube.SnapshotRecord{}, pending(err)
		}
	}
	path, err := flink.WaitForSavepoint(savepointCtx, client, record.JobID, j.TriggerID)
	if err != nil {
		var failed *flink.OperationError
		if errors.As(err, &failed) {
			return kube.SnapshotRecord{}, fmt.Errorf("the savepoint of job %s failed; the job keeps running: %w", record.JobID, err)
		}
		return kube.SnapshotRecord{}, pending(err)
	}
	j.SavepointPath = path
	if err := save(ctx); err != nil {
		return kube.SnapshotRecord{}, &keepJournal{fmt.Errorf("job %s stopped with savepoint %s, which could not be written to the "+
			"journal yet: %w", record.JobID, path, err)}
	}
	snap, err := p.recordSnapshot(ctx, record, path, origin, strings.ToLower(format), progress)
	if err != nil {
		return snap, &keepJournal{fmt.Errorf("job %s stopped with savepoint %s, which could not be recorded yet: %w. "+
			"The next apply records it and continues from it", record.JobID, path, err)}
	}
	return snap, nil
}

// keepJournal marks a failure after which the job may no longer run as before (a savepoint
// still in flight, a job already cancelled): the journal must stay so the next apply
// recovers instead of starting over from older state.
type keepJournal struct{ error }

func (e *keepJournal) Unwrap() error { return e.error }

// recordSnapshot verifies a snapshot in the store when it lies there, measures it and
// writes its record.
func (p *Platform) recordSnapshot(ctx context.Context, record *kube.AppRecord, path, origin, format string, progress Progress) (kube.SnapshotRecord, error) {
	snap := kube.SnapshotRecord{
		Namespace: record.Namespace, Application: record.Application,
		Name: kube.NewSnapshotName(record.Application, p.now()), Path: path, Origin: origin,
		JobID: record.JobID, VersionLabel: record.Version.Label, FlinkVersion: record.Version.FlinkVersion,
		Format: format, CreatedAt: p.now(), State: kube.SnapshotCompleted,
	}
	if store, err := p.store(ctx); err == nil && store != nil {
		if _, keyErr := store.Key(path); keyErr == nil {
			if err := store.Verify(ctx, path); err != nil {
				return snap, fmt.Errorf("snapshot %s is not readable in the snapshot storage: %w", path, err)
			}
			if size, err := store.Size(ctx, path); err == nil {
				snap.SizeBytes = size
			}
		} else {
			progress(fmt.Sprintf("%s: snapshot %s lies outside snapshot_storage_url; not verified", record.Application, path))
		}
	}
	if err := p.Kube.PutSnapshotRecord(ctx, snap); err != nil {
		return snap, fmt.Errorf("recording snapshot %s: %w", path, err)
	}
	progress(fmt.Sprintf("%s: snapshot %s recorded as %s", record.Application, path, snap.Name))
	return snap, nil
}

// cancelKeepingCheckpoint is last_state's stop: cancel the job and record its newest
// completed checkpoint, which Flink retains on cancellation.
func (p *Platform) cancelKeepingCheckpoint(ctx context.Context, record *kube.AppRecord, progress Progress) (kube.SnapshotRecord, error) {
	client := p.Flink(record.Namespace, record.Application)
	before, err := latestCheckpoint(ctx, client, record.JobID)
	if err != nil {
		return kube.SnapshotRecord{}, err
	}
	if before == "" {
		return kube.SnapshotRecord{}, fmt.Errorf("job %s has no completed checkpoint yet, so last_state has nothing to restore; "+
			"the job keeps running. Wait for a checkpoint, or use upgrade_mode = \"savepoint\"", record.JobID)
	}
	if err := p.cancelJob(ctx, record.Namespace, record.Application, record.JobID, progress); err != nil {
		return kube.SnapshotRecord{}, &keepJournal{err}
	}
	// A checkpoint may have completed between the first look and the cancellation.
	if after, err := latestCheckpoint(ctx, client, record.JobID); err == nil && after != "" {
		before = after
	}
	snap, err := p.recordSnapshot(ctx, record, before, kube.OriginUpgrade, kube.FormatCheckpoint, progress)
	if err != nil {
		return snap, &keepJournal{fmt.Errorf("the latest checkpoint of job %s could not be recorded: %w. The job is already "+
			"cancelled; the next apply retries from this step and restores nothing older", record.JobID, err)}
	}
	return snap, nil
}

func latestCheckpoint(ctx context.Context, client *flink.Client, jobID string) (string, error) {
	stats, err := client.Checkpoints(ctx, jobID)
	if err != nil {
		return "", fmt.Errorf("reading the checkpoints of job %s: %w", jobID, err)
	}
	if stats.Latest.Completed == nil {
		return "", nil
	}
	return stats.Latest.Completed.ExternalPath, nil
}

// verify waits until the record's job and all its tasks run, checks it restored from
// restorePath, and optionally waits for its first completed checkpoint.
func (p *Platform) verify(ctx context.Context, record *kube.AppRecord, restorePath string, requireCheckpoint bool) error {
	if err := p.waitJobHealthy(ctx, record.Namespace, record.Application, record.JobID); err != nil {
		return err
	}
	client := p.Flink(record.Namespace, record.Application)
	return flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		stats, err := client.Checkpoints(ctx, record.JobID)
		if err != nil {
			return false, retryableOnly(err)
		}
		if restorePath != "" {
			restored := stats.Latest.Restored
			if restored == nil {
				return false, fmt.Errorf("job %s runs but reports no restored snapshot; it should have started from %s", record.JobID, restorePath)
			}
			if !samePath(restored.ExternalPath, restorePath) {
				return false, fmt.Errorf("job %s restored from %s, not from %s", record.JobID, restored.ExternalPath, restorePath)
			}
		}
		return !requireCheckpoint || stats.Counts.Completed > 0, nil
	}, flink.DefaultBackoff())
}

func retryableOnly(err error) error {
	if flink.IsRetryable(err) {
		return nil
	}
	return err
}

// samePath compares Flink paths, which Flink may report as file:/x or file:///x.
func samePath(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimSuffix(s, "/")
		if rest, ok := strings.CutPrefix(s, "file://"); ok {
			return "file:" + rest
		}
		return s
	}
	return norm(a) == norm(b)
}

// waitJobHealthy polls the job until it and all its tasks run. A job that ends (FAILED,
// CANCELED, FINISHED) fails the wait at once with Flink's root exception.
func (p *Platform) waitJobHealthy(ctx context.Context, namespace, name, jobID string) error {
	client := p.Flink(namespace, name)
	last := "no answer yet"
	err := flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		job, err := client.Job(ctx, jobID)
		if err != nil {
			last = err.Error()
			// A JobManager that exits (e.g. it cannot restore the snapshot) will not get better.
			if crash := p.Kube.JobManagerCrash(ctx, namespace, name, jobID); crash != "" {
				return false, fmt.Errorf("job %s of %s/%s did not start: %s", jobID, namespace, name, crash)
			}
			// The JobManager is still starting, or the job is not submitted yet.
			if flink.IsRetryable(err) || flink.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		last = "job " + job.State + waitingTasks(job)
		if flink.IsGloballyTerminal(job.State) {
			return false, fmt.Errorf("job %s of %s/%s ended %s%s", jobID, namespace, name, job.State, rootCause(ctx, client, jobID))
		}
		return flink.JobHealthy(job), nil
	}, flink.DefaultBackoff())
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s/%s: job %s was not running before the timeout (last seen: %s)%s: %w", namespace, name, jobID, last,
			rootCause(context.WithoutCancel(ctx), client, jobID), ctx.Err())
	}
	return err
}

// waitingTasks names the tasks of a job that do not run yet, e.g. while they wait for slots.
func waitingTasks(job flink.JobDetails) string {
	var waiting []string
	for _, v := range job.Vertices {
		if v.Status != flink.TaskRunning {
			waiting = append(waiting, v.Name+" "+v.Status)
		}
	}
	if len(waiting) == 0 {
		return ""
	}
	return ", tasks not running: " + strings.Join(waiting, ", ")
}

func rootCause(ctx context.Context, client *flink.Client, jobID string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	exceptions, err := client.JobExceptions(ctx, jobID)
	if err != nil || exceptions.RootException == "" {
		return ""
	}
	return ": " + firstLine(exceptions.RootException)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// cancelJob cancels a running job and waits until Flink reports it ended. A job Flink does
// not know, or one that already ended, is not an error: the goal is "not running". A
// JobManager that does not answer is asked again for a while (it may be electing a leader)
// before it counts as gone, so a running job is never left to be killed with its pod.
func (p *Platform) cancelJob(ctx context.Context, namespace, name, jobID string, progress Progress) error {
	if jobID == "" {
		return nil
	}
	client := p.Flink(namespace, name)
	progress(fmt.Sprintf("%s: cancelling job %s", name, shortJobID(jobID)))
	cancelCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	requested := false
	err := flink.WaitFor(cancelCtx, func(ctx context.Context) (bool, error) {
		job, err := client.Job(ctx, jobID)
		switch {
		case flink.IsNotFound(err):
			return true, nil
		case err != nil:
			return false, retryableOnly(err)
		case flink.IsGloballyTerminal(job.State):
			return true, nil
		case !requested:
			if err := client.CancelJob(ctx, jobID); err != nil && !flink.IsNotFound(err) {
				return false, retryableOnly(err)
			}
			requested = true
		}
		return false, nil
	}, flink.DefaultBackoff())
	if err != nil && cancelCtx.Err() != nil && ctx.Err() == nil && !requested {
		// Unreachable for two minutes: nothing answers there to cancel.
		progress(fmt.Sprintf("%s: the JobManager did not answer; treating job %s as gone", name, shortJobID(jobID)))
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancelling job %s of %s/%s: %w", jobID, namespace, name, err)
	}
	return nil
}

// automaticOrigins are the snapshots retention may dispose; the others were asked for.
var automaticOrigins = map[string]bool{kube.OriginUpgrade: true, kube.OriginSuspend: true}

// prune disposes automatic snapshots beyond the retention, oldest first. It never touches
// the newest one the lifecycle took, one a flink_snapshot manages, or one it cannot dispose
// (files are deleted before the record, and a failed disposal keeps the record).
func (p *Platform) prune(ctx context.Context, record *kube.AppRecord, retention Retention, progress Progress) {
	if retention.MaxCount <= 0 && retention.MaxAge <= 0 {
		return
	}
	snaps, err := p.Kube.ListSnapshotRecords(ctx, record.Namespace, kube.SnapshotFilter{Application: record.Application})
	if err != nil {
		progress(fmt.Sprintf("%s: retention skipped: %v", record.Application, err))
		return
	}
	var automatic []kube.SnapshotRecord
	for _, s := range snaps {
		if s.State == kube.SnapshotDisposing { // an earlier disposal stopped half-way: finish it
			if err := p.DisposeSnapshot(ctx, s, progress); err != nil {
				progress(fmt.Sprintf("%s: snapshot %s is still being disposed: %v", record.Application, s.Name, err))
			}
			continue
		}
		if automaticOrigins[s.Origin] && s.ManagedBy == "" && s.State == kube.SnapshotCompleted {
			automatic = append(automatic, s)
		}
	}
	sort.SliceStable(automatic, func(i, j int) bool { return automatic[i].CreatedAt.After(automatic[j].CreatedAt) })
	for i, s := range automatic {
		tooMany := retention.MaxCount > 0 && i >= retention.MaxCount
		tooOld := retention.MaxAge > 0 && p.now().Sub(s.CreatedAt) > retention.MaxAge
		// Never the newest, the last one taken, or the one the running job's configuration
		// restores from (a JobManager restart reads it again).
		if i == 0 || s.Name == record.LastSnapshotName || samePath(s.Path, record.RestorePath) || (!tooMany && !tooOld) {
			continue
		}
		if err := p.DisposeSnapshot(ctx, s, progress); err != nil {
			progress(fmt.Sprintf("%s: keeping snapshot %s: %v", record.Application, s.Name, err))
		}
	}
}

// DisposeSnapshot deletes a snapshot's files and then its record. Without snapshot storage
// the files cannot be deleted, so the record stays.
func (p *Platform) DisposeSnapshot(ctx context.Context, s kube.SnapshotRecord, progress Progress) error {
	store, err := p.store(ctx)
	if s.BucketURL != "" { // a copy in another bucket
		store, err = snapshots.Open(ctx, s.BucketURL)
		if err == nil {
			defer store.Close()
		}
	}
	if err != nil {
		return err
	}
	if store == nil {
		return fmt.Errorf("no snapshot_storage_url is configured, so the files of %s cannot be deleted", s.Path)
	}
	// Mark it first so a half-deleted snapshot is never restored; if nothing was deleted
	// after all, it is still whole and goes back to completed.
	s.State = kube.SnapshotDisposing
	if err := p.Kube.PutSnapshotRecord(ctx, s); err != nil {
		return err
	}
	if err := store.Dispose(ctx, s.Path); err != nil {
		if store.Verify(ctx, s.Path) == nil {
			s.State = kube.SnapshotCompleted
			_ = p.Kube.PutSnapshotRecord(context.WithoutCancel(ctx), s)
		}
		return fmt.Errorf("disposing %s: %w", s.Path, err)
	}
	progress(fmt.Sprintf("%s: disposed snapshot %s (%s)", s.Application, s.Name, s.Path))
	return p.Kube.DeleteSnapshotRecord(ctx, s.Namespace, s.Name)
}
