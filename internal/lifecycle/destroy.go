package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// Delete stops the application per onDestroy (keeping a final savepoint by default) and
// removes its record; every object of the cluster is owned by the record and garbage
// collected. It waits until all of them, and the pods, are gone. Snapshot records stay. The
// final savepoint is journaled like an upgrade's, so a destroy that timed out and is retried
// picks up the same savepoint instead of deleting the application without it.
func (p *Platform) Delete(ctx context.Context, namespace, name, onDestroy string, savepoint SavepointOptions, progress Progress) error {
	lock, err := p.lock(ctx, namespace, name, "destroy", progress)
	if err != nil {
		return err
	}
	defer release(ctx, lock, progress)

	record, _, err := p.Records().GetAppRecord(ctx, namespace, name)
	if errors.Is(err, records.ErrNotFound) {
		return p.Kube.WaitClusterGone(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	save := func(ctx context.Context) error {
		if err := lock.Check(ctx); err != nil {
			return err
		}
		_, err := p.Records().PutAppRecord(ctx, &record)
		return err
	}
	if j := record.Journal; j != nil && j.SavepointPath != "" && j.SnapshotName == "" {
		if err := p.recordJournalSnapshot(ctx, &record, save, progress); err != nil {
			return err
		}
	}
	if err := p.stopForDestroy(ctx, &record, onDestroy, savepoint, save, progress); err != nil {
		return err
	}
	if err := lock.Check(ctx); err != nil {
		return err
	}
	return p.deleteApplication(ctx, &record, progress)
}

// stopForDestroy stops the application's job per onDestroy: with a final savepoint
// (journaled, so a retried destroy takes up the same one), or cancelled.
func (p *Platform) stopForDestroy(ctx context.Context, record *records.AppRecord, onDestroy string, savepoint SavepointOptions,
	save func(context.Context) error, progress Progress) error {
	namespace, name := record.Namespace, record.Application
	current, status := p.observeJob(ctx, record)
	resuming := record.Journal != nil && Operation(record.Journal.Operation) == opDestroy && record.Journal.SavepointPath == ""
	if !resuming && current.State == StateRunning && status == StatusUnreachable && !record.Verified {
		// A job that never passed its health check and whose JobManager never ran (its image
		// cannot be pulled, its pod cannot be scheduled) has no state beyond what it was to
		// restore: waiting savepoint_timeout for its savepoint would only stall the destroy.
		if ran, err := p.Kube.JobManagerEverRan(ctx, namespace, name, record.JobID); err == nil && !ran {
			progress(fmt.Sprintf("%s: job %s never started; deleting without a final savepoint (its newest state stays %s)",
				name, shortJobID(record.JobID), record.RestorePath))
			current.State = StateCancelled
		}
	}
	switch {
	case onDestroy == DestroyCancel && current.State == StateRunning:
		if err := p.cancelJob(ctx, namespace, name, record.JobID, progress); err != nil {
			return err
		}
	case onDestroy != DestroyCancel && (current.State == StateRunning || resuming):
		if !resuming {
			from := record.Version
			record.Journal = &records.Journal{Operation: string(opDestroy), FromVersion: from.Label, Step: stepStarted,
				StartedAt: p.now(), TargetState: "deleted", From: &from, FromJobID: record.JobID}
		}
		savepoint.Drain = savepoint.Drain || onDestroy == DestroyDrain
		if savepoint.Timeout == 0 {
			savepoint.Timeout = Defaults().Savepoint.Timeout
		}
		snap, err := p.stopWithSavepoint(ctx, record, savepoint, records.OriginDestroy, save, progress)
		if err != nil {
			if isUnchanged(err) {
				record.Journal = nil
				err = errors.Join(err, save(context.WithoutCancel(ctx)))
			}
			return settingErrorf(SettingOnDestroy, "destroy keeps a final savepoint (%s) and taking it did not finish, so "+
				"nothing was deleted: %w. Set %s to destroy without one", SettingValue{SettingOnDestroy, onDestroy}, err,
				SettingValue{SettingOnDestroy, DestroyCancel})
		}
		record.LastSnapshotPath, record.LastSnapshotName = snap.Path, snap.Name
		progress(fmt.Sprintf("%s: final savepoint %s recorded as %s", name, snap.Path, snap.Name))
	}
	return nil
}

// deleteApplication deletes the cluster, waits until its pods are gone, then its HA data,
// Secrets and record.
func (p *Platform) deleteApplication(ctx context.Context, record *records.AppRecord, progress Progress) error {
	namespace, name := record.Namespace, record.Application
	progress(fmt.Sprintf("%s: deleting the application cluster", name))
	if err := p.Kube.DeleteCluster(ctx, namespace, name); err != nil {
		return err
	}
	if err := p.Kube.WaitClusterGone(ctx, namespace, name); err != nil {
		return err
	}
	// The final savepoint is recorded (or on_destroy = "cancel" keeps no state) and no pod
	// runs: nothing can need the HA data any more.
	if err := p.dropAllHA(ctx, record); err != nil {
		progress(fmt.Sprintf("%s: deleting its high-availability data: %v", name, err))
	}
	// No pod reads the Secrets any more. (The record owns them too, for a cluster whose
	// garbage collector outlives this apply.)
	if err := p.Kube.DeleteOwnedSecrets(ctx, namespace, name, ""); err != nil {
		return err
	}
	final := "no final snapshot"
	if record.LastSnapshotName != "" {
		final = fmt.Sprintf("its last snapshot is %s (%s)", record.LastSnapshotName, record.LastSnapshotPath)
	}
	p.event(ctx, namespace, name, EventDestroyed, fmt.Sprintf("application deleted (version %s); %s", record.Version.Label, final), false)
	return p.Records().DeleteAppRecord(ctx, namespace, name)
}
