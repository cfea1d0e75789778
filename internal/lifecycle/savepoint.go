package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// nothingChanged marks a failure of a stateful step after which the job was seen running as
// before, or before anything was sent to Flink: the journal can go, and the next plan
// offers the same operation again. Every other failure keeps the journal, because the job
// may already be stopped and its savepoint must not be forgotten.
type nothingChanged struct{ error }

func (e *nothingChanged) Unwrap() error { return e.error }

func unchanged(format string, args ...any) error {
	return &nothingChanged{fmt.Errorf(format, args...)}
}

// isUnchanged reports whether err says that the failed step changed nothing.
func isUnchanged(err error) bool {
	var u *nothingChanged
	return errors.As(err, &u)
}

// stopWithSavepoint stops the record's job with a savepoint and records the snapshot. The
// trigger id, and then the savepoint's path, are saved in the journal before the next step,
// so a restarted provider asks Flink about the same savepoint and never loses one it took.
// When Flink no longer knows the trigger (its operation cache expired, the JobManager
// restarted) the outcome is found from the job and the snapshot store before anything is
// sent again.
func (p *Platform) stopWithSavepoint(ctx context.Context, record *records.AppRecord, opts SavepointOptions, origin string,
	save func(context.Context) error, progress Progress) (records.SnapshotRecord, error) {
	j := record.Journal // every caller journals the operation first
	resumed := p.journalTrigger(record, opts)
	if err := save(ctx); err != nil {
		if !resumed {
			err = &nothingChanged{err}
		}
		return records.SnapshotRecord{}, err
	}
	savepointCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	s := stop{p: p, record: record, opts: opts, save: save, progress: progress, client: p.Flink(record.Namespace, record.Application), parent: ctx}
	path, err := s.run(savepointCtx, resumed)
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	j.SavepointPath = path
	if err := save(ctx); err != nil {
		return records.SnapshotRecord{}, fmt.Errorf("job %s stopped with savepoint %s, which could not be written to the journal yet: %w",
			record.JobID, path, err)
	}
	snap, err := p.recordSnapshot(ctx, record, path, origin, strings.ToLower(j.Format), progress)
	if err != nil {
		return snap, fmt.Errorf("job %s stopped with savepoint %s, which could not be recorded yet: %w. "+
			"The next apply records it and continues from it", record.JobID, path, err)
	}
	return snap, nil
}

// journalTrigger names in the journal the savepoint about to be asked for: its trigger id
// (kept when a resumed operation named one already, which it reports), format and target
// directory, so that a restarted provider asks Flink about the same savepoint.
func (p *Platform) journalTrigger(record *records.AppRecord, opts SavepointOptions) (resumed bool) {
	j := record.Journal
	resumed = j.TriggerID != ""
	if !resumed {
		j.TriggerID = flink.NewTriggerID()
	}
	j.Step, j.Format = stepSavepoint, savepointFormat(opts)
	j.TargetDirectory = p.SavepointDirectory(Desired{Namespace: record.Namespace, Name: record.Application, Savepoint: opts})
	return resumed
}

func savepointFormat(opts SavepointOptions) string {
	if opts.Format == "" {
		return flink.FormatCanonical
	}
	return strings.ToUpper(opts.Format)
}

// stop is one attempt at the journal's stop-with-savepoint.
type stop struct {
	p        *Platform
	record   *records.AppRecord
	opts     SavepointOptions
	save     func(context.Context) error
	progress Progress
	client   *flink.Client
	parent   context.Context // the apply's context, which savepoint_timeout shortens
}

// run returns the path of the savepoint the job stopped with.
func (s *stop) run(ctx context.Context, resumed bool) (string, error) {
	j, jobID := s.record.Journal, s.record.JobID
	if resumed {
		op, err := s.client.SavepointStatus(ctx, jobID, j.TriggerID)
		switch {
		case err == nil && !op.Completed():
			return s.await(ctx)
		case err == nil && !op.Failed():
			return op.Location, nil
		case err == nil:
			// Flink answers a repeated trigger id with its old failure: a retry needs a new one.
			j.TriggerID = flink.NewTriggerID()
			if err := s.save(ctx); err != nil {
				return "", err
			}
		case !flink.IsNotFound(err):
			return "", s.pending(err)
		}
		// Flink does not know the trigger: it never got the request, or has forgotten it.
	}
	job, err := s.p.awaitRunning(ctx, s.client, s.record.Namespace, s.record.Application, jobID)
	var ended *jobEnded
	switch {
	case errors.As(err, &ended):
		return s.ended(ctx, ended, resumed)
	case err != nil && !resumed:
		return "", &nothingChanged{err}
	case err != nil:
		return "", s.pending(err)
	}
	if resumed {
		// An earlier stop may have completed its savepoint and the job failed to finish and
		// restarted: keep those files on record, though the running job has newer state.
		s.recordStrays(ctx, job)
	}
	s.progress(fmt.Sprintf("%s: stopping job %s with a savepoint", s.record.Application, shortJobID(jobID)))
	_, err = s.client.StopWithSavepoint(ctx, jobID, flink.StopRequest{
		TargetDirectory: j.TargetDirectory, Drain: s.opts.Drain, FormatType: j.Format, TriggerID: j.TriggerID,
	})
	var refused *flink.APIError
	switch {
	case errors.As(err, &refused) && refused.From == flink.FromFlink && refused.StatusCode < 500 && !flink.IsRetryable(err):
		return s.afterFailure(ctx, "stop-with-savepoint of job "+jobID+" was refused", err)
	case err != nil:
		return "", s.pending(err)
	}
	return s.await(ctx)
}

// await waits for the journal's savepoint to complete.
func (s *stop) await(ctx context.Context) (string, error) {
	path, err := flink.WaitForSavepoint(ctx, s.client, s.record.JobID, s.record.Journal.TriggerID)
	var failed *flink.OperationError
	switch {
	case errors.As(err, &failed):
		return s.afterFailure(ctx, "the savepoint of job "+s.record.JobID+" failed", err)
	case err != nil:
		return "", s.pending(err)
	}
	return path, nil
}

// afterFailure decides what a refused or failed stop (what happened, Flink's answer cause)
// left behind: a job still running is untouched; one that ended anyway may have completed
// the savepoint.
func (s *stop) afterFailure(ctx context.Context, what string, cause error) (string, error) {
	job, err := s.client.Job(context.WithoutCancel(ctx), s.record.JobID)
	switch {
	case err == nil && !flink.IsGloballyTerminal(job.State):
		return "", unchanged("%s; the job keeps running: %w", what, cause)
	case err == nil:
		return s.ended(ctx, &jobEnded{state: job.State}, true)
	case flink.IsNotFound(err):
		return s.ended(ctx, &jobEnded{}, true)
	}
	return "", s.pending(fmt.Errorf("%s (%w), and the job could not be read after: %w", what, cause, err))
}

// ended handles a job that is no longer running when the provider wants to stop it: the
// savepoint it was stopped with is found and used; without one, a job stopped by a
// savepoint (FINISHED) keeps the journal, and one that ended otherwise changed nothing.
func (s *stop) ended(ctx context.Context, ended *jobEnded, resumed bool) (string, error) {
	path, where, err := s.p.savepointOfEndedJob(ctx, s.client, s.record, ended.state)
	if err != nil {
		return "", s.pending(err)
	}
	if path != "" {
		s.progress(fmt.Sprintf("%s: job %s is %s; it was stopped with savepoint %s (found in %s)",
			s.record.Application, shortJobID(s.record.JobID), ended.describe(), path, where))
		return path, nil
	}
	if ended.state == flink.JobFinished || (resumed && ended.state == "") {
		return "", fmt.Errorf("job %s is %s, but no savepoint of it was found (looked in %s). The journal is kept so "+
			"that nothing older is restored; find the savepoint and adopt it, or restore a chosen snapshot",
			s.record.JobID, ended.describe(), where)
	}
	return "", unchanged("job %s is %s, so it cannot be stopped with a savepoint, and it left none (looked in %s); "+
		"nothing was changed. Plan again: a job that ended is started again from its latest snapshot",
		s.record.JobID, ended.describe(), where)
}

// recordStrays records complete savepoints of the job in the store that no record names.
func (s *stop) recordStrays(ctx context.Context, job flink.JobDetails) {
	found, err := s.p.unrecordedSavepoints(ctx, s.record)
	if err != nil {
		return
	}
	origin := originOf(Operation(s.record.Journal.Operation))
	for _, f := range found {
		if _, err := s.p.recordSnapshot(ctx, s.record, f.Path, origin, strings.ToLower(s.record.Journal.Format), s.progress); err == nil {
			s.progress(fmt.Sprintf("%s: recorded savepoint %s of an earlier attempt; job %s is %s and has newer state",
				s.record.Application, f.Path, shortJobID(s.record.JobID), job.State))
		}
	}
}

// pending is a failure after which the savepoint may still be in flight or complete.
func (s *stop) pending(err error) error {
	const next = "Flink may still finish it, so the next apply asks about it again before anything else"
	if errors.Is(err, context.DeadlineExceeded) && s.parent.Err() == nil {
		return settingErrorf(SettingSavepointTimeout, "the savepoint of job %s (trigger %s) did not complete within %s (%s): %w. "+next,
			s.record.JobID, s.record.Journal.TriggerID, SettingSavepointTimeout, s.opts.Timeout, err)
	}
	return fmt.Errorf("the savepoint of job %s (trigger %s) did not complete: %w. "+next, s.record.JobID, s.record.Journal.TriggerID, err)
}

// jobEnded is awaitRunning's answer for a job that will not run again.
type jobEnded struct {
	state string // "" when Flink does not know the job
}

func (e *jobEnded) Error() string { return "job " + e.describe() }

func (e *jobEnded) describe() string {
	if e.state == "" {
		return "unknown to its JobManager"
	}
	return e.state
}

// awaitRunning waits, within ctx, until the job and all its tasks run: a savepoint asked of
// a job that is restarting or still deploying tasks fails in Flink. A job that ended, or
// that Flink does not know, is a *jobEnded at once. On timeout the error says how the job
// was last seen and what Flink reports as its last failure.
func (p *Platform) awaitRunning(ctx context.Context, client *flink.Client, namespace, name, jobID string) (flink.JobDetails, error) {
	job, err := flink.WaitJobRunning(ctx, flink.StatusJob(client, jobID), false)
	var unexpected *wait.UnexpectedStateError
	var timeout *wait.TimeoutError
	switch {
	case errors.As(err, &unexpected) && unexpected.State == flink.JobNotFound:
		return job, &jobEnded{}
	case errors.As(err, &unexpected):
		return job, &jobEnded{state: unexpected.State}
	case errors.As(err, &timeout):
		return job, fmt.Errorf("job %s of %s/%s is not running, so no savepoint can be taken (last seen: %s)%s: %w",
			jobID, namespace, name, lastSeen(job, timeout), rootCause(context.WithoutCancel(ctx), client, jobID), timeout.Err)
	}
	return job, err
}

// savepointOfEndedJob finds the savepoint a job that no longer runs was stopped with, when
// Flink cannot say through the trigger: a FINISHED job's checkpoint statistics name it
// while its JobManager still has the job; otherwise the newest complete savepoint of the
// job in the snapshot store that no record names yet. It also says where it looked.
func (p *Platform) savepointOfEndedJob(ctx context.Context, client *flink.Client, record *records.AppRecord, state string) (string, string, error) {
	var where []string
	if state == flink.JobFinished {
		where = append(where, "the job's checkpoint statistics")
		stats, err := client.Checkpoints(ctx, record.JobID)
		if err == nil && stats.Latest.Savepoint != nil && stats.Latest.Savepoint.Status == "COMPLETED" && stats.Latest.Savepoint.ExternalPath != "" {
			return stats.Latest.Savepoint.ExternalPath, where[0], nil
		}
	}
	dir := p.journalSavepointDirectory(record)
	if dir == "" {
		return "", strings.Join(append(where, "no savepoint directory"), " and "), nil
	}
	where = append(where, dir)
	found, err := p.unrecordedSavepoints(ctx, record)
	if err != nil || len(found) == 0 {
		return "", strings.Join(where, " and "), err
	}
	return found[0].Path, dir, nil
}

// journalSavepointDirectory is where the journal's savepoint went: the directory sent with
// the stop, else the one the running version configures.
func (p *Platform) journalSavepointDirectory(record *records.AppRecord) string {
	if j := record.Journal; j != nil && j.TargetDirectory != "" {
		return j.TargetDirectory
	}
	from := record.Version
	if j := record.Journal; j != nil && j.From != nil {
		from = *j.From
	}
	return flinkconf.SavepointDir(from)
}

// unrecordedSavepoints are the complete savepoints of the record's job in the journal's
// savepoint directory, newest first, when the newest of them has no snapshot record yet.
// Flink names a savepoint directory "savepoint-<first 6 hex digits of the job id>-<random>".
func (p *Platform) unrecordedSavepoints(ctx context.Context, record *records.AppRecord) ([]foundSavepoint, error) {
	store, err := p.store(ctx)
	dir := p.journalSavepointDirectory(record)
	if err != nil || store == nil || dir == "" || len(record.JobID) < 6 {
		return nil, err
	}
	if _, err := store.Key(dir + "/x"); err != nil {
		return nil, nil // outside the store: nothing to look at
	}
	found, err := store.FindSavepoints(ctx, dir, "savepoint-"+record.JobID[:6]+"-")
	if err != nil || len(found) == 0 {
		return nil, err
	}
	recorded, err := p.Records().ListSnapshotRecords(ctx, record.Namespace, records.SnapshotFilter{Application: record.Application})
	if err != nil {
		return nil, err
	}
	var out []foundSavepoint
	for _, f := range found {
		if !slicesContainsPath(recorded, f.Path) {
			out = append(out, foundSavepoint{Path: f.Path})
		}
	}
	// A newer savepoint that is recorded means the unrecorded ones are not the latest state.
	if len(out) > 0 && out[0].Path != found[0].Path {
		return nil, nil
	}
	return out, nil
}

type foundSavepoint struct{ Path string }

func slicesContainsPath(recs []records.SnapshotRecord, path string) bool {
	for _, r := range recs {
		if samePath(r.Path, path) {
			return true
		}
	}
	return false
}

func originOf(op Operation) string {
	switch op {
	case OpSuspend:
		return records.OriginSuspend
	case opDestroy:
		return records.OriginDestroy
	}
	return records.OriginUpgrade
}

// recordSnapshot verifies a snapshot in the store when it lies there, measures it, reads
// what it holds and writes its record with the application's next sequence number.
func (p *Platform) recordSnapshot(ctx context.Context, record *records.AppRecord, path, origin, format string, progress Progress) (records.SnapshotRecord, error) {
	snap := records.SnapshotRecord{
		Namespace: record.Namespace, Application: record.Application,
		Name: kube.NewSnapshotName(record.Application, p.now()), Path: path, Origin: origin,
		JobID: record.JobID, VersionLabel: record.Version.Label, FlinkVersion: record.Version.FlinkVersion,
		Format: format, CreatedAt: p.now(), State: records.SnapshotCompleted,
	}
	if store, err := p.store(ctx); err == nil && store != nil {
		if _, keyErr := store.Key(path); keyErr == nil {
			if err := store.Verify(ctx, path); err != nil {
				return snap, fmt.Errorf("snapshot %s is not readable in the snapshot storage: %w", path, err)
			}
			if size, err := store.Size(ctx, path); err == nil {
				snap.SizeBytes = size
			}
			// What it holds, for plans that restore it and for the flink_snapshots data source.
			snap.Contents, _ = p.contentsOf(ctx, path) // nil when unreadable: plans then read it, or say why not
		} else {
			progress(fmt.Sprintf("%s: snapshot %s lies outside snapshot_storage_url; not verified", record.Application, path))
		}
	}
	all, err := p.Records().ListSnapshotRecords(ctx, record.Namespace, records.SnapshotFilter{})
	if err != nil {
		return snap, err
	}
	snap.Sequence, snap.Parent = nextSequence(all, record.Application), parentOf(all, record.RestorePath)
	if err := p.Records().PutSnapshotRecord(ctx, snap); err != nil {
		return snap, fmt.Errorf("recording snapshot %s: %w", path, err)
	}
	progress(fmt.Sprintf("%s: snapshot %s recorded as %s", record.Application, path, snap.Name))
	reason, message := snapshotEvent(snap)
	p.event(ctx, record.Namespace, record.Application, reason, message, false)
	return snap, nil
}

// nextSequence numbers the application's snapshots (among all, the namespace's) in the order
// they are recorded, so "newest" never depends on the clocks of the machines that wrote them.
// Callers hold the application's lock, so no two records get the same number.
func nextSequence(all []records.SnapshotRecord, application string) int64 {
	var top int64
	for _, s := range all {
		if s.Application == application {
			top = max(top, s.Sequence)
		}
	}
	return top + 1
}

// parentOf is the record (among all) of the snapshot a job started from restorePath: of
// this application or, for a fork, of another one in the namespace.
func parentOf(all []records.SnapshotRecord, restorePath string) string {
	if restorePath == "" {
		return ""
	}
	for _, s := range all {
		if s.BucketURL == "" && samePath(s.Path, restorePath) {
			return s.Name
		}
	}
	return ""
}

// cancelKeepingCheckpoint is last_state's stop: cancel the job and record its newest
// completed checkpoint, which Flink retains on cancellation.
func (p *Platform) cancelKeepingCheckpoint(ctx context.Context, record *records.AppRecord, progress Progress) (records.SnapshotRecord, error) {
	client := p.Flink(record.Namespace, record.Application)
	before, err := latestCheckpoint(ctx, client, record.JobID)
	if err != nil {
		return records.SnapshotRecord{}, &nothingChanged{err}
	}
	if before == "" {
		return records.SnapshotRecord{}, &nothingChanged{settingErrorf(SettingUpgradeMode, "job %s has no completed checkpoint "+
			"yet, so last_state has nothing to restore; the job keeps running. Wait for a checkpoint, or use %s", record.JobID,
			SettingValue{SettingUpgradeMode, UpgradeSavepoint})}
	}
	record.Journal.Format = records.FormatCheckpoint
	if err := p.cancelJob(ctx, record.Namespace, record.Application, record.JobID, progress); err != nil {
		return records.SnapshotRecord{}, err
	}
	// A checkpoint may have completed between the first look and the cancellation.
	if after, err := latestCheckpoint(ctx, client, record.JobID); err == nil && after != "" {
		before = after
	}
	snap, err := p.recordSnapshot(ctx, record, before, records.OriginUpgrade, records.FormatCheckpoint, progress)
	if err != nil {
		return snap, fmt.Errorf("the latest checkpoint of job %s could not be recorded: %w. The job is already "+
			"cancelled; the next apply retries from this step and restores nothing older", record.JobID, err)
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

// recordJournalSnapshot records the savepoint a journal holds but no snapshot record names
// yet (the process died between the two writes).
func (p *Platform) recordJournalSnapshot(ctx context.Context, record *records.AppRecord, save func(context.Context) error, progress Progress) error {
	j := record.Journal
	format := strings.ToLower(j.Format)
	switch { // journals written before the format was kept
	case format == "" && Operation(j.Operation) == OpLastStateRedeploy:
		format = records.FormatCheckpoint
	case format == "":
		format = records.FormatCanonical
	}
	// The snapshot belongs to the job that was stopped, not whatever the record names now.
	stopped := *record
	stopped.JobID = j.FromJobID
	if j.From != nil {
		stopped.Version = *j.From
	}
	snap, err := p.recordSnapshot(ctx, &stopped, j.SavepointPath, originOf(Operation(j.Operation)), format, progress)
	if err != nil {
		return err
	}
	j.SnapshotName = snap.Name
	record.LastSnapshotPath, record.LastSnapshotName = snap.Path, snap.Name
	return save(ctx)
}
