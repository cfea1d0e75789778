package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Result is what an apply leaves behind, for the resource to put in state.
type Result struct {
	Operation         Operation
	State             string
	JobID             string
	Status            string
	DeployedVersionID string
	LastSnapshotName  string
	LastSnapshotPath  string
	// RecordExists is true once the application record was written, even if a later step
	// failed: the resource must then stay in state.
	RecordExists bool
	// HighAvailability is whether the cluster runs (or resumes) with Kubernetes HA.
	HighAvailability bool
	// SecretsPending is true when the desired secret settings changed but the record does
	// not name them (yet): the resource then keeps the previous ones in state, so that the
	// next plan shows the change again.
	SecretsPending bool
}

// Journal steps, in order. Each is written to the application record before the work it
// names starts, so a process that dies leaves the next apply a precise place to resume.
const (
	stepStarted   = "started"
	stepSavepoint = "savepoint"       // trigger id recorded; the savepoint may be in flight
	stepTaken     = "snapshot_taken"  // savepoint path and snapshot record written
	stepCancelled = "cancelled"       // stateless_redeploy and cancel: the old job is cancelled
	stepDeploying = "deploying"       // new objects being applied with the restore path
	stepRollback  = "rolling_back"    // the new version failed; the previous one is being restored
	stepScaleZero = "scaling_to_zero" // suspend: stopping the cluster after the savepoint
)

// Apply carries out the planned operation for moving the application from what its record
// says to desired. It takes the application's lock, classifies the change again from the
// record and refuses when the result differs from the plan: apply never does something the
// plan did not show.
func (p *Platform) Apply(ctx context.Context, desired Desired, planned Operation, progress Progress) (Result, error) {
	desired = desired.withDefaults()
	lock, err := p.lock(ctx, desired.Namespace, desired.Name, string(planned)+" to "+desired.Version.Label, progress)
	if err != nil {
		return Result{}, err
	}
	defer lock.Release(context.WithoutCancel(ctx))

	stored, _, err := p.Records().GetAppRecord(ctx, desired.Namespace, desired.Name)
	if err != nil && !errors.Is(err, records.ErrNotFound) {
		return Result{}, err
	}
	var current *Current
	record := &records.AppRecord{Namespace: desired.Namespace, Application: desired.Name}
	if err == nil {
		record = &stored
		current = p.currentFrom(ctx, record)
	}
	plan := Classify(current, desired)
	if err := checkPlanned(planned, plan.Operation, current, desired); err != nil {
		return Result{}, err
	}
	if planned != "" {
		plan.Operation = planned
	}
	if err := p.checkPlan(ctx, plan, current, desired); err != nil {
		return Result{}, err
	}
	plan.Summary = describe(plan, current, desired)
	progress(plan.Summary)

	record.Labels, record.Annotations = desired.Labels, desired.Annotations
	record.SavepointDirectory, record.ReadinessTimeout = desired.Savepoint.Directory, desired.Rollback.ReadinessTimeout
	op := &operation{p: p, record: record, current: current, desired: desired, progress: progress, lock: lock}
	runErr := op.run(ctx, plan.Operation)
	result := p.resultFrom(record, plan.Operation)
	result.SecretsPending = desired.SecretsChanged && !op.secretsApplied()
	if runErr != nil {
		// The apply's deadline may be what failed it: report with a fresh, short one.
		reportCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		p.Kube.Event(reportCtx, desired.Namespace, desired.Name, "ApplyFailed", plan.Summary+": "+runErr.Error(), true)
		if stored, _, err := p.Records().GetAppRecord(reportCtx, desired.Namespace, desired.Name); err == nil {
			result.RecordExists = true
			_, result.Status = p.observeJob(reportCtx, &stored)
		}
		return result, runErr
	}
	p.Kube.Event(ctx, desired.Namespace, desired.Name, "Applied", plan.Summary, false)
	progress(fmt.Sprintf("%s: %s done; job %s is %s", desired.Name, plan.Operation, shortJobID(result.JobID), result.Status))
	return result, nil
}

// checkPlanned refuses to run anything but what the plan showed. A plan made while the
// version or name was unknown showed no operation: then only what needs no plan to be safe
// (creating the application, changing records) may run.
func checkPlanned(planned, now Operation, current *Current, d Desired) error {
	switch {
	case planned == now:
		return nil
	case planned == "":
		if now == OpNone || (now == OpDeploy && current == nil) {
			return nil
		}
		return fmt.Errorf("%s/%s: the plan could not say what apply would do (its version or name was not known yet), and it "+
			"now needs %s, which stops or replaces the running job. Run terraform plan again to see it before it happens",
			d.Namespace, d.Name, now)
	case now == OpNone && isRedeploy(planned) && current != nil && current.State == StateRunning:
		// At plan time a version created in the same apply had no record yet, so the plan
		// assumed its spec differs; the operation the reviewer saw is still the one to run.
		return nil
	}
	return fmt.Errorf("%s/%s changed since the plan: the plan said %s, but it now needs %s. Run terraform plan again",
		d.Namespace, d.Name, planned, now)
}

func isRedeploy(op Operation) bool {
	return op == OpSavepointRedeploy || op == OpLastStateRedeploy || op == OpStatelessRedeploy
}

// operation is one run of the step machine for one application.
type operation struct {
	p        *Platform
	record   *records.AppRecord
	current  *Current
	desired  Desired
	progress Progress
	lock     *kube.Lock
	// written is the Secret this apply wrote with the desired values (wrote: or found there
	// were none to write).
	written *spec.OwnedSecret
	wrote   bool
}

func (o *operation) run(ctx context.Context, op Operation) error {
	d := o.desired
	switch op {
	case OpNone:
		o.record.Version, o.record.DeployedVersion = d.Version, d.Version.Label
		// Unchanged for a running cluster (a change would have planned a redeploy); what a
		// stopped one resumes with.
		o.record.HighAvailability = d.HighAvailability
		if o.current == nil {
			o.record.State = d.State
		}
		if err := o.save(ctx); err != nil {
			return err
		}
		if d.SecretsChanged { // no job runs: keep the new values for its next start
			if err := o.adoptSecret(ctx); err != nil {
				return err
			}
			if err := o.save(ctx); err != nil {
				return err
			}
			o.pruneSecrets(ctx)
		}
		if o.record.State == StateRunning {
			// Labels and annotations live on the objects too; re-apply them without a restart.
			if err := o.applyCluster(ctx, o.record.Version, o.record.RestorePath, false); err != nil {
				return err
			}
		}
		o.dropSupersededHA(ctx) // what an interrupted cleanup left
		return nil

	case OpDeploy, OpResume:
		snap, err := o.p.restoreSource(ctx, o.current, d)
		if err != nil {
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
		o.record.Journal.SavepointPath, o.record.Journal.SnapshotName = snap.Path, snap.Name
		if err := o.save(ctx); err != nil {
			return err
		}
		return o.deployOnce(ctx)

	case OpStatelessRedeploy, OpCancel:
		target := StateRunning
		if op == OpCancel {
			target = StateCancelled
		}
		if err := o.begin(ctx, op, target); err != nil {
			return err
		}
		return o.cancelThen(ctx)

	case OpSavepointRedeploy, OpLastStateRedeploy:
		if err := o.begin(ctx, op, StateRunning); err != nil {
			return err
		}
		if err := o.takeState(ctx, op); err != nil {
			return err
		}
		return o.deployVerifyRollback(ctx)

	case OpSuspend:
		if err := o.begin(ctx, op, StateSuspended); err != nil {
			return err
		}
		if err := o.takeState(ctx, op); err != nil {
			return err
		}
		return o.scaleToZero(ctx)

	case OpRestartTaskManagers:
		if err := o.begin(ctx, op, StateRunning); err != nil {
			return err
		}
		return o.restartTaskManagers(ctx)

	case OpRecover:
		return o.recover(ctx)
	}
	return fmt.Errorf("%s: operation %s is not supported", d.Name, op)
}

// begin writes the journal: from here on, a crash leaves the next apply a record of what
// was under way.
func (o *operation) begin(ctx context.Context, op Operation, target string) error {
	o.record.Journal = o.newJournal(op, target)
	return o.save(ctx)
}

// newJournal describes op, from what the record names now to the desired version.
func (o *operation) newJournal(op Operation, target string) *records.Journal {
	from := o.record.Version
	return &records.Journal{
		Operation: string(op), FromVersion: from.Label, ToVersion: o.desired.Version.Label,
		Step: stepStarted, StartedAt: o.p.now(), TargetState: target, From: &from, FromJobID: o.record.JobID,
		FromHighAvailability: o.record.HighAvailability, FromSecret: o.record.Secret,
	}
}

// step records that the journal reached step.
func (o *operation) step(ctx context.Context, step string) error {
	o.record.Journal.Step = step
	return o.save(ctx)
}

// takeState stops the running job keeping its state: with a savepoint, or for last_state by
// cancelling it and keeping its latest checkpoint. The snapshot is recorded before the
// cluster is touched. The journal goes only when the failure changed nothing (the job was
// seen running as before); otherwise it stays, so the next apply recovers from here.
func (o *operation) takeState(ctx context.Context, op Operation) error {
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

// cancelThen ends a journaled stateless_redeploy or cancel: it cancels the old job, then
// starts the new version with empty state, or scales the cluster to zero.
func (o *operation) cancelThen(ctx context.Context) error {
	j := o.record.Journal
	if j.Step == stepStarted {
		if err := o.p.cancelJob(ctx, o.record.Namespace, o.record.Application, j.FromJobID, o.progress); err != nil {
			return err
		}
		if err := o.step(ctx, stepCancelled); err != nil {
			return err
		}
	}
	if Operation(j.Operation) == OpCancel {
		o.record.State = StateCancelled
		o.record.Version, o.record.DeployedVersion = o.desired.Version, o.desired.Version.Label
		o.record.HighAvailability = o.desired.HighAvailability
		if err := o.adoptSecret(ctx); err != nil {
			return err
		}
		if err := o.step(ctx, stepScaleZero); err != nil {
			return err
		}
		if err := o.scaleToZeroAndWait(ctx); err != nil {
			return err
		}
		return o.finish(ctx, StateCancelled)
	}
	return o.deployOnce(ctx)
}

// deployOnce starts the desired version from the journal's snapshot (deploy, resume and
// stateless_redeploy: nothing older runs to roll back to). A job that does not become
// healthy ends the operation: the next plan shows it as ended and starts it again. Any
// other failure (the API server, an interrupted apply) keeps the journal for recover.
func (o *operation) deployOnce(ctx context.Context) error {
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
	return o.finish(ctx, StateRunning)
}

// notHealthy is a deployment whose objects were applied but whose job did not become
// healthy in time.
type notHealthy struct{ error }

func (e *notHealthy) Unwrap() error { return e.error }

// restartTaskManagers replaces the TaskManager pods of a stuck job and waits, within
// readiness_timeout, until all its tasks run again. The job keeps its JobManager, which
// restores it from its latest completed checkpoint: nothing is lost either way, so a job
// that stays stuck ends the operation with Flink's reason.
func (o *operation) restartTaskManagers(ctx context.Context) error {
	r := o.record
	if err := o.lock.Check(ctx); err != nil {
		return err
	}
	o.progress(fmt.Sprintf("%s: replacing the TaskManager pods of job %s", r.Application, shortJobID(r.JobID)))
	if err := o.p.Kube.DeleteTaskManagerPods(ctx, r.Namespace, r.Application); err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, o.desired.Rollback.ReadinessTimeout)
	defer cancel()
	if err := o.p.waitJobHealthy(readyCtx, r.Namespace, r.Application, r.JobID); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		o.record.Journal = nil
		return errors.Join(fmt.Errorf("job %s of %s/%s still does not run after its TaskManagers were replaced: %w. Its state "+
			"is untouched; fix the cause (often a new version, with upgrade_mode = \"last_state\" while it cannot take a "+
			"savepoint)", r.JobID, r.Namespace, r.Application, err), o.save(context.WithoutCancel(ctx)))
	}
	return o.finish(ctx, StateRunning)
}

// deployVerifyRollback starts the desired version from the journal's snapshot and, if it
// does not become healthy and rollback is enabled, restarts the previous version from the
// same snapshot.
func (o *operation) deployVerifyRollback(ctx context.Context) error {
	j := o.record.Journal
	if err := o.step(ctx, stepDeploying); err != nil {
		return err
	}
	secret, err := o.desiredSecret(ctx)
	if err != nil {
		return err
	}
	if err := o.deploy(ctx, o.desired.Version, o.desired.HighAvailability, secret, j.SavepointPath); err != nil {
		var unhealthy *notHealthy
		if !errors.As(err, &unhealthy) {
			return err // not the version's fault: the journal stays for recover
		}
		return o.rollBack(ctx, err)
	}
	return o.finish(ctx, StateRunning)
}

// rollBack restarts the previous version from the journal's snapshot after the new one
// failed with deployErr. It runs with a budget of its own (readiness_timeout): the apply's
// deadline may be what failed the new version, and a failed version must not stay up for
// want of time. An interrupted apply (cancelled, not timed out) leaves it to the next one.
func (o *operation) rollBack(ctx context.Context, deployErr error) error {
	j := o.record.Journal
	if errors.Is(ctx.Err(), context.Canceled) || !o.desired.Rollback.Enabled || j.From == nil || j.From.Label == "" {
		return fmt.Errorf("version %s did not become healthy: %w. The savepoint %s is recorded; the next apply resumes from it",
			o.desired.Version.Label, deployErr, j.SavepointPath)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.desired.Rollback.ReadinessTimeout+rollbackMargin)
	defer cancel()
	o.progress(fmt.Sprintf("%s: version %s failed (%v); rolling back to %s from %s",
		o.desired.Name, o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath))
	if err := o.step(ctx, stepRollback); err != nil {
		return errors.Join(deployErr, err)
	}
	if rollbackErr := o.deploy(ctx, *j.From, j.FromHighAvailability, j.FromSecret, j.SavepointPath); rollbackErr != nil {
		return fmt.Errorf("version %s did not become healthy: %v; rolling back to %s from %s failed too: %w",
			o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath, rollbackErr)
	}
	if err := o.finish(ctx, StateRunning); err != nil {
		return errors.Join(deployErr, err)
	}
	return fmt.Errorf("version %s did not become healthy: %v; rolled back to version %s, which runs again from savepoint %s",
		o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath)
}

// rollbackMargin is what a rollback gets beyond readiness_timeout for writing records.
const rollbackMargin = 30 * time.Second

// deploy applies version (with Kubernetes HA when ha, with the Secret secret) as a new
// generation with a new job id and HA cluster id, restoring restorePath, and waits until the
// job is healthy.
func (o *operation) deploy(ctx context.Context, version spec.Version, ha bool, secret *spec.OwnedSecret, restorePath string) error {
	o.record.Generation++
	o.record.JobID = JobIDFor(o.record.Namespace, o.record.Application, o.record.Generation)
	o.record.State = StateRunning
	o.record.Version, o.record.DeployedVersion, o.record.SpecHash = version, version.Label, RuntimeHash(version)
	o.record.Secret = secret
	o.record.RestorePath, o.record.AllowNonRestored = restorePath, o.desired.Restore.AllowNonRestoredState
	o.record.Verified = false
	if err := o.startGeneration(ctx, ha); err != nil {
		return err
	}
	if err := o.save(ctx); err != nil {
		return err
	}
	return o.rollOutAndVerify(ctx)
}

// rollOutAndVerify applies the record's deployment (a no-op when it is applied already) and
// waits, within readiness_timeout, until its job and all its tasks run and the rollout is
// complete. The whole wait is bounded: a JobManager that crash-loops must fail the
// deployment in time for a rollback, not when the Deployment's progress deadline passes.
func (o *operation) rollOutAndVerify(ctx context.Context) error {
	r := o.record
	if err := o.applyCluster(ctx, r.Version, r.RestorePath, false); err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, o.desired.Rollback.ReadinessTimeout)
	defer cancel()
	o.progress(fmt.Sprintf("%s: waiting for job %s to run", o.desired.Name, shortJobID(r.JobID)))
	if err := o.p.verify(readyCtx, r, r.RestorePath, o.desired.Rollback.RequireCheckpoint); err != nil {
		return &notHealthy{err}
	}
	o.progress(fmt.Sprintf("%s: waiting for the JobManager and TaskManager rollout", o.desired.Name))
	if err := o.p.Kube.WaitRolledOut(readyCtx, r.Namespace, r.Application, o.progress); err != nil {
		return &notHealthy{err}
	}
	r.Verified = true // written with the next step (finish)
	return nil
}

// finish clears the journal, records the outcome, prunes automatic snapshots and deletes the
// HA data the outcome superseded (only now: until the journal is closed, a recover may still
// need the previous generation).
func (o *operation) finish(ctx context.Context, state string) error {
	o.record.Journal = nil
	o.record.State = state
	if err := o.save(ctx); err != nil {
		return err
	}
	o.p.prune(ctx, o.record, o.desired.Retention, o.progress)
	o.dropSupersededHA(ctx)
	o.pruneSecrets(ctx)
	return nil
}

// recover continues an operation a dead process left in the journal. It first looks at
// what the interrupted operation left running: a healthy job it had started holds newer
// state than the journal's snapshot and is kept; only an unhealthy one is replaced or rolled
// back. Then it does what the configuration asks now, never restoring from anything older
// than the journal's snapshot.
func (o *operation) recover(ctx context.Context) error {
	j := o.record.Journal
	o.progress(fmt.Sprintf("%s: resuming an interrupted %s at step %q", o.desired.Name, j.Operation, j.Step))
	switch Operation(j.Operation) {
	case opSnapshot:
		if err := o.p.finishSnapshotJournal(ctx, o.record, o.save, o.progress); err != nil {
			return err
		}
		return o.thenAsConfigured(ctx)
	case OpRestartTaskManagers:
		if err := o.rollOutAndVerify(ctx); err == nil {
			return o.finishThenAsConfigured(ctx)
		}
		return o.restartTaskManagers(ctx)
	case OpStatelessRedeploy, OpCancel, OpDeploy, OpResume:
		return o.recoverWithoutSavepoint(ctx)
	}
	return o.recoverFromSavepoint(ctx)
}

// recoverWithoutSavepoint continues deploy, resume, stateless_redeploy and cancel, whose
// journal names no savepoint they took (deploy and resume: the one they restore).
func (o *operation) recoverWithoutSavepoint(ctx context.Context) error {
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
func (o *operation) recoverFromSavepoint(ctx context.Context) error {
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
		if err := o.deploy(ctx, *j.From, j.FromHighAvailability, j.FromSecret, j.SavepointPath); err != nil {
			return fmt.Errorf("rolling back to %s from %s: %w", j.From.Label, j.SavepointPath, err)
		}
		return errors.Join(o.finish(ctx, StateRunning), rolledBack(j))
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
func (o *operation) deployStarted() bool {
	j := o.record.Journal
	return (j.Step == stepDeploying || j.Step == stepRollback) && o.record.JobID != j.FromJobID
}

// finishThenAsConfigured ends the journal's operation with its job running, then carries out
// what the configuration asks of that job now.
func (o *operation) finishThenAsConfigured(ctx context.Context) error {
	if err := o.finish(ctx, StateRunning); err != nil {
		return err
	}
	return o.thenAsConfigured(ctx)
}

// thenAsConfigured runs, after a recovered operation, the operation the configuration asks
// of the application as it is now. A job that is to stop is stopped with a savepoint first,
// even for state = "cancelled": it ran since the last snapshot, and its state is kept.
func (o *operation) thenAsConfigured(ctx context.Context) error {
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

// scaleToZero ends a suspend: the cluster keeps its objects with no pods.
func (o *operation) scaleToZero(ctx context.Context) error {
	if o.record.Journal != nil {
		if err := o.step(ctx, stepScaleZero); err != nil {
			return err
		}
	}
	o.record.State = o.desired.State
	// A suspended application resumes with the version (HA and secret settings) the
	// configuration names now.
	o.record.Version, o.record.DeployedVersion = o.desired.Version, o.desired.Version.Label
	o.record.HighAvailability = o.desired.HighAvailability
	if err := o.adoptSecret(ctx); err != nil {
		return err
	}
	if err := o.save(ctx); err != nil {
		return err
	}
	if err := o.scaleToZeroAndWait(ctx); err != nil {
		return err
	}
	return o.finish(ctx, o.desired.State)
}

func (o *operation) scaleToZeroAndWait(ctx context.Context) error {
	if err := o.applyCluster(ctx, o.record.Version, "", true); err != nil {
		return err
	}
	return o.p.Kube.WaitRolledOut(ctx, o.record.Namespace, o.record.Application, o.progress)
}

// applyCluster renders the application cluster and server-side applies it, owned by the
// application record so that deleting the record cascades.
func (o *operation) applyCluster(ctx context.Context, version spec.Version, restorePath string, suspended bool) error {
	if err := o.lock.Check(ctx); err != nil {
		return fmt.Errorf("%s/%s: stopped before changing the cluster: %w", o.record.Namespace, o.record.Application, err)
	}
	_, recordMap, err := o.p.Records().GetAppRecord(ctx, o.record.Namespace, o.record.Application)
	if err != nil {
		return err
	}
	objects, err := kube.Render(o.deployment(version, restorePath, suspended), kube.AppOwnerRef(recordMap))
	if err != nil {
		return err
	}
	return o.p.Kube.Apply(ctx, objects)
}

func (o *operation) deployment(version spec.Version, restorePath string, suspended bool) spec.Deployment {
	d := spec.Deployment{
		Namespace: o.record.Namespace, Application: o.record.Application, Version: version,
		JobID: o.record.JobID, RestorePath: restorePath, AllowNonRestoredState: o.record.AllowNonRestored,
		Suspended: suspended, Labels: o.desired.Labels, Annotations: o.desired.Annotations, Secret: o.record.Secret,
	}
	if !suspended { // a cluster with no pods needs no HA
		d.HA = o.haSpec()
	}
	return d
}

// save writes the record, fenced twice: the lock must still be ours, and the record must
// not have changed since this apply read or last wrote it.
func (o *operation) save(ctx context.Context) error {
	if err := o.lock.Check(ctx); err != nil {
		return err
	}
	_, err := o.p.Records().PutAppRecord(ctx, o.record)
	return err
}

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
	defer lock.Release(context.WithoutCancel(ctx))

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
	current, status := p.observeJob(ctx, &record)
	resuming := record.Journal != nil && record.Journal.Operation == opDestroy && record.Journal.SavepointPath == ""
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
			record.Journal = &records.Journal{Operation: opDestroy, FromVersion: from.Label, Step: stepStarted,
				StartedAt: p.now(), TargetState: "deleted", From: &from, FromJobID: record.JobID}
		}
		savepoint.Drain = savepoint.Drain || onDestroy == DestroyDrain
		if savepoint.Timeout == 0 {
			savepoint.Timeout = Desired{}.withDefaults().Savepoint.Timeout
		}
		snap, err := p.stopWithSavepoint(ctx, &record, savepoint, records.OriginDestroy, save, progress)
		if err != nil {
			if isUnchanged(err) {
				record.Journal = nil
				err = errors.Join(err, save(context.WithoutCancel(ctx)))
			}
			return fmt.Errorf("destroy keeps a final savepoint (on_destroy = %q) and taking it did not finish, so nothing was "+
				"deleted: %w. Set on_destroy = \"cancel\" to destroy without one", onDestroy, err)
		}
		record.LastSnapshotPath, record.LastSnapshotName = snap.Path, snap.Name
		progress(fmt.Sprintf("%s: final savepoint %s recorded as %s", name, snap.Path, snap.Name))
	}
	if err := lock.Check(ctx); err != nil {
		return err
	}
	progress(fmt.Sprintf("%s: deleting the application cluster", name))
	if err := p.Kube.DeleteCluster(ctx, namespace, name); err != nil {
		return err
	}
	if err := p.Kube.WaitClusterGone(ctx, namespace, name); err != nil {
		return err
	}
	// The final savepoint is recorded (or on_destroy = "cancel" keeps no state) and no pod
	// runs: nothing can need the HA data any more.
	if err := p.dropAllHA(ctx, &record); err != nil {
		progress(fmt.Sprintf("%s: deleting its high-availability data: %v", name, err))
	}
	// No pod reads the Secrets any more. (The record owns them too, for a cluster whose
	// garbage collector outlives this apply.)
	if err := p.Kube.DeleteOwnedSecrets(ctx, namespace, name, ""); err != nil {
		return err
	}
	return p.Records().DeleteAppRecord(ctx, namespace, name)
}

// opDestroy names a destroy's final savepoint in the journal; opSnapshot a flink_snapshot's
// savepoint of the running job.
const (
	opDestroy  = "destroy"
	opSnapshot = "snapshot"
)

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

// desiredSecret is the Secret the desired version runs with: the record's when the secret
// settings did not change, else a new one written with the desired values (once per apply;
// nil when there are none). It is written before any record names it.
func (o *operation) desiredSecret(ctx context.Context) (*spec.OwnedSecret, error) {
	if !o.desired.SecretsChanged {
		return o.record.Secret, nil
	}
	if o.wrote {
		return o.written, nil
	}
	if !o.desired.Secrets.Empty() {
		if err := o.lock.Check(ctx); err != nil {
			return nil, err
		}
		_, recordMap, err := o.p.Records().GetAppRecord(ctx, o.record.Namespace, o.record.Application)
		if err != nil {
			return nil, err
		}
		o.record.SecretGeneration++
		desc := kube.DescribeOwnedSecret(kube.OwnedSecretName(o.record.Application, o.record.SecretGeneration), o.desired.Secrets)
		secret := kube.OwnedSecretObject(o.record.Namespace, o.record.Application, desc, o.desired.Secrets,
			o.desired.Labels, o.desired.Annotations, kube.AppOwnerRef(recordMap))
		if err := o.p.Kube.CreateOwnedSecret(ctx, secret); err != nil {
			return nil, err
		}
		o.progress(fmt.Sprintf("%s: secret settings written to Secret %s (%d Flink configuration keys, %d environment variables)",
			o.desired.Name, desc.Name, len(desc.FlinkConfigurationKeys), len(desc.EnvNames)))
		o.written = &desc
	}
	o.wrote = true
	return o.written, nil
}

// adoptSecret makes the record name the desired Secret without starting a job (the next
// start uses it).
func (o *operation) adoptSecret(ctx context.Context) error {
	secret, err := o.desiredSecret(ctx)
	if err != nil {
		return err
	}
	o.record.Secret = secret
	return nil
}

// secretsApplied reports whether the record ends up naming the Secret with the desired values.
func (o *operation) secretsApplied() bool {
	if !o.wrote {
		return false
	}
	if o.written == nil || o.record.Secret == nil {
		return o.written == nil && o.record.Secret == nil
	}
	return o.record.Secret.Name == o.written.Name
}

// pruneSecrets deletes the application's Secrets that no record names any more, once
// nothing runs with them; best effort.
func (o *operation) pruneSecrets(ctx context.Context) {
	if o.record.Journal != nil {
		return // a rollback may still need the previous one
	}
	keep := ""
	if o.record.Secret != nil {
		keep = o.record.Secret.Name
	}
	if err := o.p.Kube.DeleteOwnedSecrets(ctx, o.record.Namespace, o.record.Application, keep); err != nil {
		o.progress(fmt.Sprintf("%s: could not delete old Secrets: %v", o.record.Application, err))
	}
}
