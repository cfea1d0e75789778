package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// savepoint_redeploy and last_state_redeploy: stop the job keeping its state, start the
// new version from it, and roll back to the previous version if it does not become healthy.
func (o *machine) redeployWithState(ctx context.Context, op Operation) error {
	if err := o.begin(ctx, op, StateRunning); err != nil {
		return err
	}
	if err := o.takeState(ctx, op); err != nil {
		return err
	}
	return o.deployVerifyRollback(ctx)
}

// takeState stops the running job keeping its state: with a savepoint, or for last_state by
// cancelling it and keeping its latest checkpoint. The snapshot is recorded before the
// cluster is touched. The journal goes only when the failure changed nothing (the job was
// seen running as before); otherwise it stays, so the next apply recovers from here.
func (o *machine) takeState(ctx context.Context, op Operation) error {
	var snap records.SnapshotRecord
	var err error
	if op == OpLastStateRedeploy {
		snap, err = o.p.cancelKeepingCheckpoint(ctx, o.record, o.progress)
	} else {
		snap, err = o.p.stopWithSavepoint(ctx, o.record, o.desired.Savepoint, originOf(op), o.save, o.progress)
	}
	if err != nil {
		if isUnchanged(err) {
			o.record.Journal = nil // the next plan shows the same operation
		} else {
			o.record.Journal.Failure = err.Error()
		}
		if saveErr := o.save(context.WithoutCancel(ctx)); saveErr != nil {
			return errors.Join(err, saveErr)
		}
		return err
	}
	o.record.Journal.SavepointPath, o.record.Journal.SnapshotName = snap.Path, snap.Name
	o.record.LastSnapshotPath, o.record.LastSnapshotName = snap.Path, snap.Name
	return o.step(ctx, stepTaken)
}

// deployVerifyRollback starts the desired version from the journal's snapshot (reprocess:
// the chosen one) and, if it does not become healthy and rollback is enabled, restarts the
// previous version from the journal's savepoint.
func (o *machine) deployVerifyRollback(ctx context.Context) error {
	j := o.record.Journal
	if err := o.step(ctx, stepDeploying); err != nil {
		return err
	}
	secret, err := o.desiredSecret(ctx)
	if err != nil {
		return err
	}
	restorePath := j.SavepointPath
	if j.RestorePath != "" {
		restorePath, o.record.RestoredSnapshot = j.RestorePath, j.RestoreSnapshot
	}
	if err := o.deploy(ctx, o.desired.Version, o.desired.HighAvailability, secret, restorePath); err != nil {
		var unhealthy *notHealthy
		if !errors.As(err, &unhealthy) {
			return err // not the version's fault: the journal stays for recover
		}
		return o.rollBack(ctx, err)
	}
	return o.finishStarted(ctx)
}

// rollBack restarts the previous version from the journal's snapshot after the new one
// failed with deployErr. It runs with a budget of its own (readiness_timeout): the apply's
// deadline may be what failed the new version, and a failed version must not stay up for
// want of time. An interrupted apply (cancelled, not timed out) leaves it to the next one.
func (o *machine) rollBack(ctx context.Context, deployErr error) error {
	j := o.record.Journal
	if errors.Is(ctx.Err(), context.Canceled) || !o.desired.Rollback.Enabled || j.From == nil || j.From.Label == "" {
		return fmt.Errorf("version %s did not become healthy: %w. The savepoint %s is recorded; the next apply resumes from it",
			o.desired.Version.Label, deployErr, j.SavepointPath)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.desired.Rollback.ReadinessTimeout+rollbackMargin)
	defer cancel()
	msg := fmt.Sprintf("version %s failed (%v); rolling back to %s from %s", o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath)
	o.progress(o.desired.Name + ": " + msg)
	o.p.event(ctx, o.record.Namespace, o.record.Application, EventRollingBack, msg, true)
	if err := o.step(ctx, stepRollback); err != nil {
		return errors.Join(deployErr, err)
	}
	o.record.RestoredSnapshot = j.FromRestoredSnapshot
	if rollbackErr := o.deploy(ctx, *j.From, j.FromHighAvailability, j.FromSecret, j.SavepointPath); rollbackErr != nil {
		return fmt.Errorf("version %s did not become healthy: %v; rolling back to %s from %s failed too: %w",
			o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath, rollbackErr)
	}
	if err := o.finish(ctx, StateRunning); err != nil {
		return errors.Join(deployErr, err)
	}
	o.p.event(ctx, o.record.Namespace, o.record.Application, EventRolledBack,
		fmt.Sprintf("version %s runs again as job %s from %s, after version %s failed: %v",
			j.From.Label, o.record.JobID, j.SavepointPath, o.desired.Version.Label, deployErr), true)
	return fmt.Errorf("version %s did not become healthy: %v; rolled back to version %s, which runs again from savepoint %s",
		o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath)
}

// rollbackMargin is what a rollback gets beyond readiness_timeout for writing records.
const rollbackMargin = 30 * time.Second
