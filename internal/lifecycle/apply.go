package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
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
}

// Journal steps, in order. Each is written to the application record before the work it
// names starts, so a process that dies leaves the next apply a precise place to resume.
const (
	stepStarted   = "started"
	stepSavepoint = "savepoint"       // trigger id recorded; the savepoint may be in flight
	stepTaken     = "snapshot_taken"  // savepoint path and snapshot record written
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
	lock, err := p.lock(ctx, desired.Namespace, desired.Name, string(planned)+" to "+desired.Version.Label)
	if err != nil {
		return Result{}, err
	}
	defer lock.Release(context.WithoutCancel(ctx))

	stored, _, err := p.Kube.GetAppRecord(ctx, desired.Namespace, desired.Name)
	if err != nil && !errors.Is(err, kube.ErrNotFound) {
		return Result{}, err
	}
	var current *Current
	record := &kube.AppRecord{Namespace: desired.Namespace, Application: desired.Name}
	if err == nil {
		record = &stored
		current = p.currentFrom(ctx, record)
	}
	plan := Classify(current, desired)
	if planned != "" && plan.Operation != planned {
		// At plan time a version created in the same apply had no record yet, so the plan
		// assumed its spec differs; the operation the reviewer saw is still the one to run.
		if !(plan.Operation == OpNone && isRedeploy(planned) && current != nil && current.State == StateRunning) {
			return Result{}, fmt.Errorf("%s/%s changed since the plan: the plan said %s, but it now needs %s. Run terraform plan again",
				desired.Namespace, desired.Name, planned, plan.Operation)
		}
		plan.Operation = planned
	}
	if err := p.checkPlan(ctx, plan, current, desired); err != nil {
		return Result{}, err
	}
	plan.Summary = describe(plan, current, desired)
	progress(plan.Summary)

	record.Labels, record.Annotations = desired.Labels, desired.Annotations
	op := &operation{p: p, record: record, current: current, desired: desired, progress: progress, lost: lock.Lost()}
	runErr := op.run(ctx, plan.Operation)
	result := p.resultFrom(record, plan.Operation)
	if runErr != nil {
		// The apply's deadline may be what failed it: report with a fresh, short one.
		reportCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		p.Kube.Event(reportCtx, desired.Namespace, desired.Name, "ApplyFailed", plan.Summary+": "+runErr.Error(), true)
		if stored, _, err := p.Kube.GetAppRecord(reportCtx, desired.Namespace, desired.Name); err == nil {
			result.RecordExists = true
			_, result.Status = p.observeJob(reportCtx, &stored)
		}
		return result, runErr
	}
	p.Kube.Event(ctx, desired.Namespace, desired.Name, "Applied", plan.Summary, false)
	progress(fmt.Sprintf("%s: %s done; job %s is %s", desired.Name, plan.Operation, shortJobID(result.JobID), result.Status))
	return result, nil
}

func isRedeploy(op Operation) bool {
	return op == OpSavepointRedeploy || op == OpLastStateRedeploy || op == OpStatelessRedeploy
}

// operation is one run of the step machine for one application.
type operation struct {
	p        *Platform
	record   *kube.AppRecord
	current  *Current
	desired  Desired
	progress Progress
	lost     <-chan struct{}
}

func (o *operation) run(ctx context.Context, op Operation) error {
	d := o.desired
	switch op {
	case OpNone:
		o.record.Version, o.record.DeployedVersion = d.Version, d.Version.Label
		if o.current == nil {
			o.record.State = d.State
		}
		if err := o.save(ctx); err != nil {
			return err
		}
		if o.record.State == StateRunning {
			// Labels and annotations live on the objects too; re-apply them without a restart.
			return o.applyCluster(ctx, o.record.Version, o.record.RestorePath, false)
		}
		return nil

	case OpDeploy, OpResume:
		snap, err := o.p.restoreSource(ctx, o.current, d)
		if err != nil {
			return err
		}
		if err := o.deploy(ctx, d.Version, snap.Path); err != nil {
			return err
		}
		return o.finish(ctx, StateRunning)

	case OpStatelessRedeploy:
		if err := o.cancelRunningJob(ctx); err != nil {
			return err
		}
		if err := o.deploy(ctx, d.Version, ""); err != nil {
			return err
		}
		return o.finish(ctx, StateRunning)

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

	case OpCancel:
		if err := o.cancelRunningJob(ctx); err != nil {
			return err
		}
		o.record.State = StateCancelled
		o.record.Version, o.record.DeployedVersion = d.Version, d.Version.Label
		if err := o.save(ctx); err != nil {
			return err
		}
		return o.scaleToZeroAndWait(ctx)

	case OpRecover:
		return o.recover(ctx)
	}
	return fmt.Errorf("%s: operation %s is not supported", d.Name, op)
}

// begin writes the journal: from here on, a crash leaves the next apply a record of what
// was under way.
func (o *operation) begin(ctx context.Context, op Operation, target string) error {
	from := o.record.Version
	o.record.Journal = &kube.Journal{
		Operation: string(op), FromVersion: from.Label, ToVersion: o.desired.Version.Label,
		Step: stepStarted, StartedAt: o.p.now(), TargetState: target, From: &from, FromJobID: o.record.JobID,
	}
	return o.save(ctx)
}

// step records that the journal reached step.
func (o *operation) step(ctx context.Context, step string) error {
	o.record.Journal.Step = step
	return o.save(ctx)
}

// takeState stops the running job keeping its state: with a savepoint, or for last_state by
// cancelling it and keeping its latest checkpoint. The snapshot is recorded before the
// cluster is touched; if this fails, nothing was torn down and the old job keeps running.
func (o *operation) takeState(ctx context.Context, op Operation) error {
	origin := kube.OriginUpgrade
	if op == OpSuspend {
		origin = kube.OriginSuspend
	}
	var snap kube.SnapshotRecord
	var err error
	if op == OpLastStateRedeploy {
		snap, err = o.p.cancelKeepingCheckpoint(ctx, o.record, o.progress)
	} else {
		snap, err = o.p.stopWithSavepoint(ctx, o.record, o.desired.Savepoint, origin, o.save, o.progress)
	}
	if err != nil {
		var keep *keepJournal
		if errors.As(err, &keep) {
			// The job may not run as before: keep the journal (with the savepoint's trigger
			// id) so the next apply recovers from here.
			o.record.Journal.Failure = err.Error()
		} else {
			// Nothing changed: forget the journal so the next plan shows the same operation.
			o.record.Journal = nil
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

// deployVerifyRollback starts the desired version from the journal's snapshot and, if it
// does not become healthy and rollback is enabled, restarts the previous version from the
// same snapshot.
func (o *operation) deployVerifyRollback(ctx context.Context) error {
	j := o.record.Journal
	if err := o.step(ctx, stepDeploying); err != nil {
		return err
	}
	deployErr := o.deploy(ctx, o.desired.Version, j.SavepointPath)
	if deployErr == nil {
		return o.finish(ctx, StateRunning)
	}
	if ctx.Err() != nil || !o.desired.Rollback.Enabled || j.From == nil || j.From.Label == "" {
		return fmt.Errorf("version %s did not become healthy: %w. The savepoint %s is recorded; the next apply resumes from it",
			o.desired.Version.Label, deployErr, j.SavepointPath)
	}
	o.progress(fmt.Sprintf("%s: version %s failed (%v); rolling back to %s from %s",
		o.desired.Name, o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath))
	if err := o.step(ctx, stepRollback); err != nil {
		return errors.Join(deployErr, err)
	}
	if rollbackErr := o.deploy(ctx, *j.From, j.SavepointPath); rollbackErr != nil {
		return fmt.Errorf("version %s did not become healthy: %v; rolling back to %s from %s failed too: %w",
			o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath, rollbackErr)
	}
	if err := o.finish(ctx, StateRunning); err != nil {
		return errors.Join(deployErr, err)
	}
	return fmt.Errorf("version %s did not become healthy: %v; rolled back to version %s, which runs again from savepoint %s",
		o.desired.Version.Label, deployErr, j.From.Label, j.SavepointPath)
}

// deploy applies version with a new job id, restoring restorePath, and waits until the job
// is healthy.
func (o *operation) deploy(ctx context.Context, version spec.Version, restorePath string) error {
	o.record.Generation++
	o.record.JobID = JobIDFor(o.record.Namespace, o.record.Application, o.record.Generation)
	o.record.State = StateRunning
	o.record.Version, o.record.DeployedVersion, o.record.SpecHash = version, version.Label, RuntimeHash(version)
	o.record.RestorePath, o.record.AllowNonRestored = restorePath, o.desired.Restore.AllowNonRestoredState
	if err := o.save(ctx); err != nil {
		return err
	}
	if err := o.applyCluster(ctx, version, restorePath, false); err != nil {
		return err
	}
	o.progress(fmt.Sprintf("%s: waiting for the JobManager and TaskManager rollout", o.desired.Name))
	if err := o.p.Kube.WaitRolledOut(ctx, o.record.Namespace, o.record.Application, o.progress); err != nil {
		return err
	}
	o.progress(fmt.Sprintf("%s: waiting for job %s to run", o.desired.Name, shortJobID(o.record.JobID)))
	verifyCtx, cancel := context.WithTimeout(ctx, o.desired.Rollback.ReadinessTimeout)
	defer cancel()
	return o.p.verify(verifyCtx, o.record, restorePath, o.desired.Rollback.RequireCheckpoint)
}

// finish clears the journal, records the outcome and prunes automatic snapshots.
func (o *operation) finish(ctx context.Context, state string) error {
	o.record.Journal = nil
	o.record.State = state
	if err := o.save(ctx); err != nil {
		return err
	}
	o.p.prune(ctx, o.record, o.desired.Retention, o.progress)
	return nil
}

// recover continues an operation a dead process left in the journal, towards what the
// configuration asks now, never restoring from anything older than the journal's snapshot.
func (o *operation) recover(ctx context.Context) error {
	j := o.record.Journal
	o.progress(fmt.Sprintf("%s: resuming an interrupted %s at step %q", o.desired.Name, j.Operation, j.Step))
	switch {
	case j.SavepointPath == "":
		if err := o.takeState(ctx, Operation(j.Operation)); err != nil {
			return err
		}
		j = o.record.Journal
	case j.SnapshotName == "":
		// The job stopped with this savepoint but the process died before recording it.
		if err := o.p.recordJournalSnapshot(ctx, o.record, o.progress); err != nil {
			return err
		}
		if err := o.step(ctx, stepTaken); err != nil {
			return err
		}
	}
	switch {
	case o.desired.State == StateSuspended || o.desired.State == StateCancelled:
		o.record.State = o.desired.State
		return o.scaleToZero(ctx)
	case j.Step == stepRollback:
		// The new version already failed once; finish bringing the previous one back, and
		// report the upgrade as failed so Terraform keeps asking for it.
		if err := o.deploy(ctx, *j.From, j.SavepointPath); err != nil {
			return fmt.Errorf("rolling back to %s from %s: %w", j.From.Label, j.SavepointPath, err)
		}
		if err := o.finish(ctx, StateRunning); err != nil {
			return err
		}
		return fmt.Errorf("an interrupted upgrade to %s had failed and was rolling back; rolled back to version %s, which runs "+
			"again from savepoint %s. Fix version %s and apply again", j.ToVersion, j.From.Label, j.SavepointPath, j.ToVersion)
	default:
		return o.deployVerifyRollback(ctx)
	}
}

// scaleToZero ends a suspend: the cluster keeps its objects with no pods.
func (o *operation) scaleToZero(ctx context.Context) error {
	if o.record.Journal != nil {
		if err := o.step(ctx, stepScaleZero); err != nil {
			return err
		}
	}
	o.record.State = o.desired.State
	// A suspended application resumes with the version the configuration names now.
	o.record.Version, o.record.DeployedVersion = o.desired.Version, o.desired.Version.Label
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

func (o *operation) cancelRunningJob(ctx context.Context) error {
	if o.current == nil || o.current.State != StateRunning {
		return nil
	}
	return o.p.cancelJob(ctx, o.record.Namespace, o.record.Application, o.current.JobID, o.progress)
}

// applyCluster renders the application cluster and server-side applies it, owned by the
// application record so that deleting the record cascades.
func (o *operation) applyCluster(ctx context.Context, version spec.Version, restorePath string, suspended bool) error {
	select {
	case <-o.lost:
		return fmt.Errorf("%s/%s: lost the application lock to another apply; stopped before changing the cluster",
			o.record.Namespace, o.record.Application)
	default:
	}
	_, recordMap, err := o.p.Kube.GetAppRecord(ctx, o.record.Namespace, o.record.Application)
	if err != nil {
		return err
	}
	objects, err := kube.Render(spec.Deployment{
		Namespace: o.record.Namespace, Application: o.record.Application, Version: version,
		JobID: o.record.JobID, RestorePath: restorePath, AllowNonRestoredState: o.record.AllowNonRestored,
		Suspended: suspended, Labels: o.desired.Labels, Annotations: o.desired.Annotations,
	}, kube.AppOwnerRef(recordMap))
	if err != nil {
		return err
	}
	return o.p.Kube.Apply(ctx, objects)
}

func (o *operation) save(ctx context.Context) error {
	_, err := o.p.Kube.PutAppRecord(ctx, o.record)
	return err
}

// Delete stops the application per onDestroy (keeping a final savepoint by default) and
// removes its record; every object of the cluster is owned by the record and garbage
// collected. It waits until all of them, and the pods, are gone. Snapshot records stay. The
// final savepoint is journaled like an upgrade's, so a destroy that timed out and is retried
// picks up the same savepoint instead of deleting the application without it.
func (p *Platform) Delete(ctx context.Context, namespace, name, onDestroy string, savepoint SavepointOptions, progress Progress) error {
	lock, err := p.lock(ctx, namespace, name, "destroy")
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))

	record, _, err := p.Kube.GetAppRecord(ctx, namespace, name)
	if errors.Is(err, kube.ErrNotFound) {
		return p.Kube.WaitClusterGone(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	save := func(ctx context.Context) error { _, err := p.Kube.PutAppRecord(ctx, &record); return err }
	if j := record.Journal; j != nil && j.SavepointPath != "" && j.SnapshotName == "" {
		if err := p.recordJournalSnapshot(ctx, &record, progress); err != nil {
			return err
		}
	}
	current := p.currentFrom(ctx, &record)
	resuming := record.Journal != nil && record.Journal.Operation == opDestroy && record.Journal.SavepointPath == ""
	switch {
	case onDestroy == DestroyCancel && current.State == StateRunning:
		if err := p.cancelJob(ctx, namespace, name, record.JobID, progress); err != nil {
			return err
		}
	case onDestroy != DestroyCancel && (current.State == StateRunning || resuming):
		if !resuming {
			from := record.Version
			record.Journal = &kube.Journal{Operation: opDestroy, FromVersion: from.Label, Step: stepStarted,
				StartedAt: p.now(), TargetState: "deleted", From: &from, FromJobID: record.JobID}
		}
		savepoint.Drain = savepoint.Drain || onDestroy == DestroyDrain
		if savepoint.Timeout == 0 {
			savepoint.Timeout = Desired{}.withDefaults().Savepoint.Timeout
		}
		snap, err := p.stopWithSavepoint(ctx, &record, savepoint, kube.OriginDestroy, save, progress)
		if err != nil {
			return fmt.Errorf("destroy keeps a final savepoint (on_destroy = %q) and taking it did not finish, so nothing was "+
				"deleted: %w. Set on_destroy = \"cancel\" to destroy without one", onDestroy, err)
		}
		progress(fmt.Sprintf("%s: final savepoint %s recorded as %s", name, snap.Path, snap.Name))
	}
	progress(fmt.Sprintf("%s: deleting the application cluster", name))
	if err := p.Kube.DeleteCluster(ctx, namespace, name); err != nil {
		return err
	}
	if err := p.Kube.WaitClusterGone(ctx, namespace, name); err != nil {
		return err
	}
	return p.Kube.DeleteAppRecord(ctx, namespace, name)
}

// opDestroy names a destroy's final savepoint in the journal.
const opDestroy = "destroy"

// recordJournalSnapshot records the savepoint a journal holds but no snapshot record names
// yet (the process died between the two writes).
func (p *Platform) recordJournalSnapshot(ctx context.Context, record *kube.AppRecord, progress Progress) error {
	j := record.Journal
	origin, format := kube.OriginUpgrade, kube.FormatCanonical
	switch Operation(j.Operation) {
	case OpSuspend:
		origin = kube.OriginSuspend
	case OpLastStateRedeploy:
		format = kube.FormatCheckpoint
	case opDestroy:
		origin = kube.OriginDestroy
	}
	// The snapshot belongs to the job that was stopped, not whatever the record names now.
	stopped := *record
	stopped.JobID = j.FromJobID
	if j.From != nil {
		stopped.Version = *j.From
	}
	snap, err := p.recordSnapshot(ctx, &stopped, j.SavepointPath, origin, format, progress)
	if err != nil {
		return err
	}
	j.SnapshotName = snap.Name
	record.LastSnapshotPath, record.LastSnapshotName = snap.Path, snap.Name
	_, err = p.Kube.PutAppRecord(ctx, record)
	return err
}
