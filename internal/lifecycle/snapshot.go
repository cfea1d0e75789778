package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// TakeSnapshot triggers a savepoint of a running application without stopping it, and
// records it as managed by a flink_snapshot. The trigger is journaled in the application
// record before it is sent: if the apply dies while Flink writes the savepoint, a retried
// create picks up the same savepoint, and the application's next plan shows recover until
// it is recorded, so no savepoint is left on disk unrecorded.
func (p *Platform) TakeSnapshot(ctx context.Context, namespace, name string, opts SavepointOptions, progress Progress) (records.SnapshotRecord, error) {
	lock, err := p.lock(ctx, namespace, name, "snapshot", progress)
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	defer release(ctx, lock, progress)

	record, _, err := p.Records().GetAppRecord(ctx, namespace, name)
	if errors.Is(err, records.ErrNotFound) {
		return records.SnapshotRecord{}, fmt.Errorf("application %s/%s does not exist, so there is nothing to snapshot", namespace, name)
	}
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	save := func(ctx context.Context) error {
		if err := lock.Check(ctx); err != nil {
			return err
		}
		_, err := p.Records().PutAppRecord(ctx, &record)
		return err
	}
	switch j := record.Journal; {
	case j != nil && Operation(j.Operation) != opSnapshot:
		return records.SnapshotRecord{}, fmt.Errorf("application %s/%s has an interrupted %s (step %q) that must finish first: "+
			"apply the application (its plan shows recover), then take the snapshot", namespace, name, j.Operation, j.Step)
	case j == nil:
		if current := p.currentFrom(ctx, &record); current.State != StateRunning {
			return records.SnapshotRecord{}, fmt.Errorf("application %s/%s is not running (it is %s), so no savepoint can be taken; "+
				"to keep the state it stopped with, adopt its last snapshot with path = %q", namespace, name, current.State, record.LastSnapshotPath)
		}
		from := record.Version
		record.Journal = &records.Journal{Operation: string(opSnapshot), FromVersion: from.Label, ToVersion: from.Label, Step: stepStarted,
			StartedAt: p.now(), TargetState: record.State, From: &from, FromJobID: record.JobID}
	}
	if opts.Timeout == 0 {
		opts.Timeout = Defaults().Savepoint.Timeout
	}
	if opts.Directory == "" {
		opts.Directory = record.SavepointDirectory
	}
	path, err := p.triggerSavepoint(ctx, &record, opts, save, progress)
	if err != nil {
		if isUnchanged(err) {
			record.Journal = nil
			err = errors.Join(err, save(context.WithoutCancel(ctx)))
		}
		return records.SnapshotRecord{}, err
	}
	snap, err := p.recordManaged(ctx, &record, path, records.OriginUser, strings.ToLower(record.Journal.Format), "", progress)
	if err != nil {
		return snap, err
	}
	record.Journal = nil
	return snap, save(ctx)
}

// triggerSavepoint takes the journal's savepoint of the running job (the job keeps
// running). Like a stop, it asks Flink about a journaled trigger before sending anything,
// and looks in the store when Flink has forgotten it.
func (p *Platform) triggerSavepoint(ctx context.Context, record *records.AppRecord, opts SavepointOptions, save func(context.Context) error,
	progress Progress) (string, error) {
	j := record.Journal
	client := p.Flink(record.Namespace, record.Application)
	resumed := p.journalTrigger(record, opts)
	if err := save(ctx); err != nil {
		return "", &nothingChanged{err}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if resumed {
		op, err := client.SavepointStatus(ctx, record.JobID, j.TriggerID)
		switch {
		case err == nil && op.Completed() && !op.Failed():
			return op.Location, nil
		case err == nil && op.Failed():
			j.TriggerID = flink.NewTriggerID()
			if err := save(ctx); err != nil {
				return "", err
			}
		case err == nil:
			return p.awaitTriggered(ctx, client, record)
		case !flink.IsNotFound(err):
			return "", fmt.Errorf("asking Flink about savepoint trigger %s of job %s: %w", j.TriggerID, record.JobID, err)
		default:
			if found, err := p.unrecordedSavepoints(ctx, record); err == nil && len(found) > 0 {
				return found[0].Path, nil
			}
		}
	}
	if _, err := p.awaitRunning(ctx, client, record.Namespace, record.Application, record.JobID); err != nil {
		return "", &nothingChanged{err}
	}
	if _, err := client.TriggerSavepoint(ctx, record.JobID, flink.SavepointRequest{
		TargetDirectory: j.TargetDirectory, FormatType: j.Format, TriggerID: j.TriggerID,
	}); err != nil {
		if flink.IsRetryable(err) {
			return "", fmt.Errorf("triggering a savepoint of job %s: %w", record.JobID, err)
		}
		return "", unchanged("triggering a savepoint of job %s was refused: %v", record.JobID, err)
	}
	progress(fmt.Sprintf("%s: savepoint of job %s triggered", record.Application, shortJobID(record.JobID)))
	return p.awaitTriggered(ctx, client, record)
}

func (p *Platform) awaitTriggered(ctx context.Context, client *flink.Client, record *records.AppRecord) (string, error) {
	path, err := flink.WaitForSavepoint(ctx, client, record.JobID, record.Journal.TriggerID)
	var failed *flink.OperationError
	if errors.As(err, &failed) {
		return "", unchanged("the savepoint of job %s failed; the job keeps running: %v", record.JobID, err)
	}
	if err != nil {
		return "", fmt.Errorf("the savepoint of job %s (trigger %s) did not complete: %w. Flink may still finish it; the "+
			"next apply of the application records it", record.JobID, record.Journal.TriggerID, err)
	}
	return path, nil
}

// finishSnapshotJournal ends a flink_snapshot's savepoint that an apply left journaled: a
// savepoint Flink completed is recorded (as a user snapshot nobody manages yet), and the
// journal goes.
func (p *Platform) finishSnapshotJournal(ctx context.Context, record *records.AppRecord, save func(context.Context) error, progress Progress) error {
	opts := Defaults().Savepoint
	path, err := p.triggerSavepointOutcome(ctx, record, opts)
	if err != nil {
		return err
	}
	if path != "" {
		if _, err := p.recordSnapshot(ctx, record, path, records.OriginUser, strings.ToLower(record.Journal.Format), progress); err != nil {
			return err
		}
	}
	record.Journal = nil
	return save(ctx)
}

// triggerSavepointOutcome is what became of the journal's savepoint trigger: its path, or ""
// when Flink failed it or never took it.
func (p *Platform) triggerSavepointOutcome(ctx context.Context, record *records.AppRecord, opts SavepointOptions) (string, error) {
	client := p.Flink(record.Namespace, record.Application)
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	op, err := client.SavepointStatus(ctx, record.JobID, record.Journal.TriggerID)
	switch {
	case err == nil && !op.Completed():
		path, err := p.awaitTriggered(ctx, client, record)
		if isUnchanged(err) {
			return "", nil
		}
		return path, err
	case err == nil && op.Failed():
		return "", nil
	case err == nil:
		return op.Location, nil
	case !flink.IsNotFound(err):
		return "", err
	}
	found, err := p.unrecordedSavepoints(ctx, record)
	if err != nil || len(found) == 0 {
		return "", err
	}
	return found[0].Path, nil
}

// AdoptSnapshot puts an existing savepoint or retained checkpoint under a flink_snapshot,
// after checking that its _metadata exists. Its provenance (job, version) is unknown and
// recorded as such. A path the provider already records is the same set of files: an
// automatic snapshot of it is taken over (so retention no longer disposes it); one that a
// flink_snapshot already manages is refused.
func (p *Platform) AdoptSnapshot(ctx context.Context, namespace, name, path, format string, progress Progress) (records.SnapshotRecord, error) {
	store, err := p.store(ctx)
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	if store == nil {
		return records.SnapshotRecord{}, settingErrorf(SettingSnapshotStorage, "adopting %s needs %s in the provider, to check that the "+
			"snapshot exists", path, SettingSnapshotStorage)
	}
	if _, err := store.Key(path); err != nil {
		return records.SnapshotRecord{}, err
	}
	all, err := p.Records().ListSnapshotRecords(ctx, namespace, records.SnapshotFilter{})
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	for _, s := range all {
		if !samePath(s.Path, path) || s.BucketURL != "" {
			continue
		}
		if s.ManagedBy != "" {
			return s, &SnapshotManagedError{Path: path, Namespace: namespace, Name: s.Name}
		}
		progress(fmt.Sprintf("%s: %s is recorded as %s; the flink_snapshot takes it over", name, path, s.Name))
		return p.ManageSnapshot(ctx, namespace, s.Name)
	}
	record := records.AppRecord{Namespace: namespace, Application: name} // job and version unknown
	return p.recordManaged(ctx, &record, path, records.OriginImported, format, "", progress)
}

// ManageSnapshot puts a recorded snapshot under a flink_snapshot (terraform import): from now
// on retention never disposes it.
func (p *Platform) ManageSnapshot(ctx context.Context, namespace, name string) (records.SnapshotRecord, error) {
	snap, err := p.Records().GetSnapshotRecord(ctx, namespace, name)
	if err != nil || snap.ManagedBy == records.SnapshotManagedByResource {
		return snap, err
	}
	snap.ManagedBy = records.SnapshotManagedByResource
	return snap, p.Records().PutSnapshotRecord(ctx, snap)
}

// CopySnapshot copies a recorded snapshot's files to destinationURL (a bucket URL, e.g. a
// disaster-recovery bucket or another cluster's storage) and records the copy.
func (p *Platform) CopySnapshot(ctx context.Context, namespace, sourceName, destinationURL string, progress Progress) (records.SnapshotRecord, error) {
	source, err := p.Records().GetSnapshotRecord(ctx, namespace, sourceName)
	if err != nil {
		return records.SnapshotRecord{}, fmt.Errorf("source snapshot %s/%s: %w", namespace, sourceName, err)
	}
	store, err := p.store(ctx)
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	if store == nil {
		return records.SnapshotRecord{}, settingErrorf(SettingSnapshotStorage, "copying a snapshot needs %s in the provider", SettingSnapshotStorage)
	}
	destination, err := p.openStore(ctx, destinationURL)
	if err != nil {
		return records.SnapshotRecord{}, settingErrorf(SettingCopyDestination, "opening %s: %w", SettingCopyDestination, err)
	}
	defer func() { _ = destination.Close() }() // every object written was checked at its own Close
	dir := source.Path[strings.LastIndex(strings.TrimSuffix(source.Path, "/"), "/")+1:]
	destinationPath := flinkPathOf(destinationURL) + "/" + dir
	progress(fmt.Sprintf("copying snapshot %s to %s", source.Path, destinationPath))
	size, err := store.Copy(ctx, source.Path, destination, destinationPath)
	if err != nil {
		return records.SnapshotRecord{}, err
	}
	if err := verifyCopy(ctx, destination, destinationPath, size); err != nil {
		return records.SnapshotRecord{}, err
	}
	record := records.AppRecord{Namespace: namespace, Application: source.Application, JobID: source.JobID}
	record.Version.Label, record.Version.FlinkVersion = source.VersionLabel, source.FlinkVersion
	return p.recordManaged(ctx, &record, destinationPath, records.OriginCopied, source.Format, source.Name, progress,
		func(s *records.SnapshotRecord) {
			s.SizeBytes, s.BucketURL, s.Contents = size, destinationURL, source.Contents
		})
}

// verifyCopy reads a copy back where it lies, before anything can restore it: its _metadata is
// there and its files add up to the source's size.
func verifyCopy(ctx context.Context, destination *snapshots.Store, path string, sourceSize int64) error {
	if err := destination.Verify(ctx, path); err != nil {
		return fmt.Errorf("the copy at %s cannot be read back: %w", path, err)
	}
	size, err := destination.Size(ctx, path)
	if err != nil {
		return fmt.Errorf("the copy at %s cannot be measured: %w", path, err)
	}
	if size != sourceSize {
		return fmt.Errorf("the copy at %s holds %d bytes, the source %d: it is not whole; apply again to complete it", path, size, sourceSize)
	}
	return nil
}

// recordManaged records a snapshot owned by a flink_snapshot. Paths outside the provider's
// store (copies to another bucket) are recorded without re-reading them; adjust fills
// what only the caller knows.
func (p *Platform) recordManaged(ctx context.Context, record *records.AppRecord, path, origin, format, source string, progress Progress,
	adjust ...func(*records.SnapshotRecord)) (records.SnapshotRecord, error) {
	snap, err := p.recordSnapshot(ctx, record, path, origin, format, progress)
	if err != nil {
		return snap, err
	}
	snap.ManagedBy, snap.SourceSnapshot = records.SnapshotManagedByResource, source
	for _, a := range adjust {
		a(&snap)
	}
	return snap, p.Records().PutSnapshotRecord(ctx, snap)
}

// Snapshot reads a snapshot record. A disposed snapshot is gone (records.ErrNotFound): its
// record stays only as history.
func (p *Platform) Snapshot(ctx context.Context, namespace, name string) (records.SnapshotRecord, error) {
	snap, err := p.Records().GetSnapshotRecord(ctx, namespace, name)
	if err == nil && snap.State == records.SnapshotDisposed {
		return records.SnapshotRecord{}, fmt.Errorf("snapshot %s/%s was disposed: %w", namespace, name, records.ErrNotFound)
	}
	return snap, err
}

// SnapshotLineage is a snapshot record with where it stands among the others: what needs its
// files, and what grew from it.
type SnapshotLineage struct {
	records.SnapshotRecord
	// UsedBy says what needs its files: while anything does, disposing it is refused (and
	// deletion_policy = "delete" keeps them).
	UsedBy []string
	// Children are the records of the snapshots taken of jobs started from it, and of its
	// copies.
	Children []string
}

// Snapshots lists the namespace's snapshots that match filter and are not disposed, newest
// first, with their lineage.
func (p *Platform) Snapshots(ctx context.Context, namespace string, filter records.SnapshotFilter) ([]SnapshotLineage, error) {
	matched, err := p.Records().ListSnapshotRecords(ctx, namespace, filter)
	if err != nil {
		return nil, err
	}
	all := matched
	if filter != (records.SnapshotFilter{}) {
		if all, err = p.Records().ListSnapshotRecords(ctx, namespace, records.SnapshotFilter{}); err != nil {
			return nil, err
		}
	}
	appRecords, err := p.Records().ListAppRecords(ctx, namespace)
	if err != nil {
		return nil, err
	}
	var out []SnapshotLineage
	for _, s := range matched {
		if s.State == records.SnapshotDisposed {
			continue
		}
		l := SnapshotLineage{SnapshotRecord: s}
		others, apps := dependants(s, all, appRecords)
		l.UsedBy = append(apps, others...)
		for _, c := range all {
			if c.Parent == s.Name || c.SourceSnapshot == s.Name {
				l.Children = append(l.Children, c.Name)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// ReleaseSnapshot ends a flink_snapshot's ownership: "delete" disposes the files and the
// record; "retain" keeps both, handing the record back to nobody (retention still never
// touches snapshots it did not take). Files that an application still needs are kept even
// with "delete" (one path is one set of files): the record is handed back instead, and the
// returned warning says which application needs them.
func (p *Platform) ReleaseSnapshot(ctx context.Context, namespace, name string, dispose bool, progress Progress) (string, error) {
	snap, err := p.Records().GetSnapshotRecord(ctx, namespace, name)
	if errors.Is(err, records.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var warning string
	if dispose {
		err := p.DisposeSnapshot(ctx, snap, progress)
		if !errors.Is(err, ErrSnapshotInUse) {
			return "", err
		}
		warning = err.Error() + ". They were kept, and the snapshot is on record as before, managed by nobody; " +
			"dispose of it once nothing needs it"
	}
	snap.ManagedBy = ""
	return warning, p.Records().PutSnapshotRecord(ctx, snap)
}

// flinkPathOf is the Flink-side path of a bucket URL: the URL without its query (driver
// options such as ?region=).
func flinkPathOf(bucketURL string) string {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return strings.TrimSuffix(bucketURL, "/")
	}
	u.RawQuery = ""
	return strings.TrimSuffix(u.String(), "/")
}
