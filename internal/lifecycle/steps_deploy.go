package lifecycle

import (
	"context"
	"errors"
)

// deploy and resume: start the desired version from the restore source (nothing older runs
// to roll back to).
func (o *machine) startJob(ctx context.Context, op Operation) error {
	d := o.desired
	snap, err := o.p.restoreSource(ctx, o.current, d)
	if err != nil {
		return err
	}
	if o.restoreCheck, err = o.p.restoreCheckOf(ctx, op, snap, o.current, d); err != nil {
		return err
	}
	if snap.Name == "" && snap.Path != "" {
		// A checkpoint newer than every snapshot: on record before the new job uses it.
		if snap, err = o.p.recordSnapshot(ctx, o.record, snap.Path, snap.Origin, snap.Format, o.progress); err != nil {
			return err
		}
		o.record.LastSnapshotPath, o.record.LastSnapshotName = snap.Path, snap.Name
	}
	// The journal names the snapshot the new job restores, for recover to use the same.
	o.record.Journal = o.newJournal(op, StateRunning)
	if d.Restore.Strategy == RestoreSnapshot && snap.Name == d.Restore.SnapshotName {
		o.record.RestoredSnapshot = snap.Name
	}
	o.record.Journal.SavepointPath, o.record.Journal.SnapshotName = snap.Path, snap.Name
	if err := o.save(ctx); err != nil {
		return err
	}
	return o.deployOnce(ctx)
}

// deployOnce starts the desired version from the journal's snapshot (deploy, resume and
// stateless_redeploy: nothing older runs to roll back to). A job that does not become
// healthy ends the operation: the next plan shows it as ended and starts it again. Any
// other failure (the API server, an interrupted apply) keeps the journal for recover.
func (o *machine) deployOnce(ctx context.Context) error {
	if err := o.step(ctx, stepDeploying); err != nil {
		return err
	}
	secret, err := o.desiredSecret(ctx)
	if err != nil {
		return err
	}
	if err := o.deploy(ctx, o.desired.Version, o.desired.HighAvailability, secret, o.record.Journal.SavepointPath); err != nil {
		var unhealthy *notHealthy
		if errors.As(err, &unhealthy) && !errors.Is(ctx.Err(), context.Canceled) {
			o.record.Journal = nil
			err = errors.Join(err, o.save(context.WithoutCancel(ctx)))
		}
		return err
	}
	return o.finishStarted(ctx)
}
