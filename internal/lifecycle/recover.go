package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// recover continues an operation a dead process left in the journal. It first looks at
// what the interrupted operation left running: a healthy job it had started holds newer
// state than the journal's snapshot and is kept; only an unhealthy one is replaced or rolled
// back. Then it does what the configuration asks now, never restoring from anything older
// than the journal's snapshot.
func (o *machine) recover(ctx context.Context, _ Operation) error {
	j := o.record.Journal
	o.progress(fmt.Sprintf("%s: resuming an interrupted %s at step %q", o.desired.Name, j.Operation, j.Step))
	if steps := operationSteps[Operation(j.Operation)]; steps.resume != nil {
		return steps.resume(o, ctx)
	}
	return o.recoverFromSavepoint(ctx)
}

// resumeSnapshot finishes a flink_snapshot's savepoint of the running job, then does what
// the configuration asks.
func (o *machine) resumeSnapshot(ctx context.Context) error {
	if err := o.p.finishSnapshotJournal(ctx, o.record, o.save, o.progress); err != nil {
		return err
	}
	return o.thenAsConfigured(ctx)
}

// recoverWithoutSavepoint continues deploy, resume, stateless_redeploy and cancel, whose
// journal names no savepoint they took (deploy and resume: the one they restore).
func (o *machine) recoverWithoutSavepoint(ctx context.Context) error {
	op := Operation(o.record.Journal.Operation)
	if o.deployStarted() {
		if err := o.rollOutAndVerify(ctx); err == nil {
			return o.finishThenAsConfigured(ctx)
		}
	}
	switch {
	case o.desired.State != StateRunning && op != OpCancel:
		return o.scaleToZero(ctx) // nothing healthy runs: stop as the configuration asks
	case op == OpDeploy || op == OpResume:
		return o.deployOnce(ctx)
	}
	return o.cancelThen(ctx)
}

// recoverFromSavepoint continues the operations that stop the job keeping its state
// (savepoint_redeploy, last_state_redeploy, suspend, destroy's final savepoint).
func (o *machine) recoverFromSavepoint(ctx context.Context) error {
	j := o.record.Journal
	switch {
	case j.SavepointPath == "":
		if err := o.takeState(ctx, Operation(j.Operation)); err != nil {
			return err
		}
	case j.SnapshotName == "":
		// The job stopped with this savepoint but the process died before recording it.
		if err := o.p.recordJournalSnapshot(ctx, o.record, o.save, o.progress); err != nil {
			return err
		}
		if err := o.step(ctx, stepTaken); err != nil {
			return err
		}
	}
	if o.deployStarted() {
		o.progress(fmt.Sprintf("%s: checking job %s (version %s), which the interrupted apply started",
			o.desired.Name, shortJobID(o.record.JobID), o.record.Version.Label))
		err := o.rollOutAndVerify(ctx)
		switch {
		case err == nil && j.Step == stepRollback && o.record.Version.Label == j.From.Label:
			// The rollback's job runs: the upgrade failed, and Terraform keeps asking for it.
			return errors.Join(o.finish(ctx, StateRunning), rolledBack(j))
		case err == nil:
			return o.finishThenAsConfigured(ctx)
		case errors.Is(ctx.Err(), context.Canceled):
			return err
		}
		o.progress(fmt.Sprintf("%s: job %s is not healthy: %v", o.desired.Name, shortJobID(o.record.JobID), err))
	}
	switch {
	case o.desired.State == StateSuspended || o.desired.State == StateCancelled:
		// No job runs healthy: the journal's snapshot is the newest state.
		return o.scaleToZero(ctx)
	case j.Step == stepRollback:
		// The new version already failed once; finish bringing the previous one back, and
		// report the upgrade as failed so Terraform keeps asking for it.
		o.record.RestoredSnapshot = j.FromRestoredSnapshot
		if err := o.deploy(ctx, *j.From, j.FromHighAvailability, j.FromSecret, j.SavepointPath); err != nil {
			return fmt.Errorf("rolling back to %s from %s: %w", j.From.Label, j.SavepointPath, err)
		}
		return errors.Join(o.finish(ctx, StateRunning), rolledBack(j))
	}
	if j.RestorePath != "" && !o.keepsReprocessing() {
		j.RestorePath, j.RestoreSnapshot = "", ""
	}
	// Start the desired version afresh from the journal's snapshot (rolling back if it fails
	// again).
	return o.deployVerifyRollback(ctx)
}

// rolledBack is the error of a recovered rollback: the upgrade it undid failed.
func rolledBack(j *records.Journal) error {
	return fmt.Errorf("an interrupted upgrade to %s had failed and was rolling back; rolled back to version %s, which runs "+
		"again from savepoint %s. Fix version %s and apply again", j.ToVersion, j.From.Label, j.SavepointPath, j.ToVersion)
}

// deployStarted reports whether the journal's deploy (or rollback) step had already written
// the new generation: the record then names the job that step started.
func (o *machine) deployStarted() bool {
	j := o.record.Journal
	return (j.Step == stepDeploying || j.Step == stepRollback) && o.record.JobID != j.FromJobID
}

// finishThenAsConfigured ends the journal's operation with its job running, then carries out
// what the configuration asks of that job now.
func (o *machine) finishThenAsConfigured(ctx context.Context) error {
	if err := o.finish(ctx, StateRunning); err != nil {
		return err
	}
	return o.thenAsConfigured(ctx)
}

// thenAsConfigured runs, after a recovered operation, the operation the configuration asks
// of the application as it is now. A job that is to stop is stopped with a savepoint first,
// even for state = "cancelled": it ran since the last snapshot, and its state is kept.
func (o *machine) thenAsConfigured(ctx context.Context) error {
	o.current = o.p.currentFrom(ctx, o.record)
	d := o.desired
	if o.secretsApplied() {
		d.SecretsChanged = false // the record names the new Secret already
	}
	next := Classify(o.current, d).Operation
	if next == OpCancel {
		next = OpSuspend
	}
	if next == OpNone || next == OpRecover {
		o.record.Version, o.record.DeployedVersion = o.desired.Version, o.desired.Version.Label
		if err := o.adoptSecret(ctx); err != nil {
			return err
		}
		return o.save(ctx)
	}
	o.progress(fmt.Sprintf("%s: now %s, as the configuration asks", o.desired.Name, next))
	return o.run(ctx, next)
}
