package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// automaticOrigins are the snapshots retention may dispose; the others were asked for.
var automaticOrigins = map[string]bool{records.OriginUpgrade: true, records.OriginSuspend: true}

// prune disposes automatic snapshots beyond the retention, oldest first. It never touches
// the newest one the lifecycle took, one a flink_snapshot manages, files that something
// else still needs (see holders), or one it cannot dispose (files are deleted before the
// record, and a failed disposal keeps the record).
func (p *Platform) prune(ctx context.Context, record *records.AppRecord, retention Retention, progress Progress) {
	if retention.MaxCount <= 0 && retention.MaxAge <= 0 {
		return
	}
	snaps, err := p.Records().ListSnapshotRecords(ctx, record.Namespace, records.SnapshotFilter{Application: record.Application})
	if err != nil {
		progress(fmt.Sprintf("%s: retention skipped: %v", record.Application, err))
		return
	}
	var automatic []records.SnapshotRecord
	for _, s := range snaps {
		if s.State == records.SnapshotDisposing { // an earlier disposal stopped half-way: finish it
			if err := p.DisposeSnapshot(ctx, s, progress); err != nil {
				progress(fmt.Sprintf("%s: snapshot %s is still being disposed: %v", record.Application, s.Name, err))
			}
			continue
		}
		if automaticOrigins[s.Origin] && s.ManagedBy == "" && s.State == records.SnapshotCompleted {
			automatic = append(automatic, s)
		}
	}
	sortNewestFirst(automatic)
	for i, s := range automatic {
		tooMany := retention.MaxCount > 0 && i >= retention.MaxCount
		tooOld := retention.MaxAge > 0 && p.now().Sub(s.CreatedAt) > retention.MaxAge
		if i == 0 || s.Name == record.LastSnapshotName || (!tooMany && !tooOld) {
			continue
		}
		why := fmt.Sprintf("beyond max_count %d", retention.MaxCount)
		if tooOld {
			why = fmt.Sprintf("older than max_age %s", retention.MaxAge)
		}
		if err := p.dispose(ctx, s, progress, EventSnapshotPruned, "retention: "+why); err != nil {
			progress(fmt.Sprintf("%s: keeping snapshot %s: %v", record.Application, s.Name, err))
		}
	}
}

// ErrSnapshotInUse is the errors.Is target of DisposeSnapshot's refusal to delete files that
// something else still needs.
var ErrSnapshotInUse = errors.New("snapshot in use")

// DisposeSnapshot deletes a snapshot's files and then its record. One path is one set of
// files: they are deleted only when nothing else needs them (see holders). While an
// application needs them the disposal is refused with an error naming it; while another
// record names them only this record goes. Files the provider cannot reach
// (no snapshot storage, or outside it) are refused too, leaving the record as it was.
func (p *Platform) DisposeSnapshot(ctx context.Context, s records.SnapshotRecord, progress Progress) error {
	return p.dispose(ctx, s, progress, EventSnapshotDisposed, "")
}

// dispose is DisposeSnapshot leaving an Event with reason, and why in its message.
func (p *Platform) dispose(ctx context.Context, s records.SnapshotRecord, progress Progress, reason, why string) error {
	others, apps, err := p.holders(ctx, s)
	if err != nil {
		return err
	}
	if len(apps) > 0 {
		return fmt.Errorf("%w: the files of snapshot %s (%s) are still needed: %s", ErrSnapshotInUse, s.Name, s.Path, strings.Join(apps, "; "))
	}
	if len(others) > 0 {
		progress(fmt.Sprintf("%s: forgetting snapshot %s but keeping its files: %s", s.Application, s.Name, strings.Join(others, "; ")))
		return p.Records().DeleteSnapshotRecord(ctx, s.Namespace, s.Name)
	}
	store, err := p.store(ctx)
	if s.BucketURL != "" { // a copy in another bucket
		store, err = p.openStore(ctx, s.BucketURL)
		if err == nil {
			defer func() { _ = store.Close() }() // only deletes went through it, each checked
		}
	}
	if err != nil {
		return err
	}
	if store == nil {
		return settingErrorf(SettingSnapshotStorage, "no %s is configured, so the files of %s cannot be deleted", SettingSnapshotStorage, s.Path)
	}
	if _, err := store.Key(s.Path); err != nil {
		return fmt.Errorf("the files of %s cannot be deleted by the provider: %w", s.Name, err)
	}
	// Mark it first so a half-deleted snapshot is never restored; if nothing was deleted
	// after all, it is still whole and goes back to completed.
	s.State = records.SnapshotDisposing
	if err := p.Records().PutSnapshotRecord(ctx, s); err != nil {
		return err
	}
	if err := store.Dispose(ctx, s.Path); err != nil {
		if store.Verify(ctx, s.Path) == nil {
			s.State = records.SnapshotCompleted
			_ = p.Records().PutSnapshotRecord(context.WithoutCancel(ctx), s)
		}
		return fmt.Errorf("disposing %s: %w", s.Path, err)
	}
	progress(fmt.Sprintf("%s: disposed snapshot %s (%s)", s.Application, s.Name, s.Path))
	message := fmt.Sprintf("snapshot %s disposed: its files at %s are deleted", s.Name, s.Path)
	if why != "" {
		message += " (" + why + ")"
	}
	p.event(ctx, s.Namespace, s.Application, reason, message, false)
	return p.Records().DeleteSnapshotRecord(ctx, s.Namespace, s.Name)
}

// holders says what, besides snapshot record s, still needs the files at s.Path (see
// dependants).
func (p *Platform) holders(ctx context.Context, s records.SnapshotRecord) (others, apps []string, err error) {
	if s.State == records.SnapshotDisposing {
		return nil, nil, nil // already half-deleted: finishing the disposal loses nothing
	}
	all, err := p.Records().ListSnapshotRecords(ctx, s.Namespace, records.SnapshotFilter{})
	if err != nil {
		return nil, nil, err
	}
	var appRecords []records.AppRecord
	if s.BucketURL == "" { // a copy in another bucket: no application of this cluster restores it
		if appRecords, err = p.Records().ListAppRecords(ctx, s.Namespace); err != nil {
			return nil, nil, err
		}
	}
	others, apps = dependants(s, all, appRecords)
	return others, apps, nil
}

// dependants says what, among the namespace's snapshot records (all) and application records,
// needs the files of s: other records of the same path, and applications that restore from
// them (the path its running job started from, which a JobManager restart reads again; the
// snapshot an interrupted operation took, its rollback point; for an application that is not
// running, the snapshot a resume or redeploy would restore).
func dependants(s records.SnapshotRecord, all []records.SnapshotRecord, appRecords []records.AppRecord) (others, apps []string) {
	for _, other := range all {
		if other.Name != s.Name && samePath(other.Path, s.Path) && other.BucketURL == s.BucketURL {
			others = append(others, "snapshot record "+other.Name+" names the same files")
		}
	}
	if s.BucketURL != "" {
		return others, nil
	}
	for _, app := range appRecords {
		switch {
		case samePath(app.RestorePath, s.Path) && app.State == StateRunning:
			apps = append(apps, fmt.Sprintf("application %s runs from it (a JobManager restart restores it again)", app.Application))
		case app.Journal != nil && samePath(app.Journal.SavepointPath, s.Path):
			apps = append(apps, fmt.Sprintf("an interrupted %s of application %s took it (its rollback point)", app.Journal.Operation, app.Application))
		case app.State != StateRunning:
			var own []records.SnapshotRecord
			for _, r := range all {
				if r.Application == app.Application {
					own = append(own, r)
				}
			}
			if latest := latestState(own); latest != nil && samePath(latest.Path, s.Path) {
				apps = append(apps, fmt.Sprintf("application %s is %s and would resume from it, as its newest state", app.Application, app.State))
			}
		}
	}
	return others, apps
}
