package lifecycle

import (
	"context"
	"errors"
	"fmt"
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
	// RestoreCheck is what the state the new job restored was found to hold, checked again
	// before anything was stopped (nil when it restored none).
	RestoreCheck *RestoreCheck
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
	stepRescaling = "rescaling"       // rescale: the new parallelism is being applied in place
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
	defer release(ctx, lock, progress)

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
	if isRedeploy(plan.Operation) || plan.Operation == OpRescale {
		// Checked again now that the version's record exists: before the running job stops.
		if plan.RestoreCheck, err = p.restoreCheckOf(ctx, plan.Operation, records.SnapshotRecord{}, current, desired); err != nil {
			return Result{}, err
		}
	}
	plan.Summary = describe(plan, current, desired)
	progress(plan.Summary)

	record.Labels, record.Annotations = desired.Labels, desired.Annotations
	record.SavepointDirectory, record.ReadinessTimeout = desired.Savepoint.Directory, desired.Rollback.ReadinessTimeout
	op := &machine{p: p, record: record, current: current, desired: desired, progress: progress, lock: lock, restoreCheck: plan.RestoreCheck}
	runErr := op.run(ctx, plan.Operation)
	result := p.resultFrom(record, plan.Operation)
	result.RestoreCheck = op.restoreCheck
	result.SecretsPending = desired.SecretsChanged && !op.secretsApplied()
	if runErr != nil {
		// The apply's deadline may be what failed it: report with a fresh, short one.
		reportCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		p.event(reportCtx, desired.Namespace, desired.Name, EventApplyFailed, plan.Summary+": "+runErr.Error(), true)
		if stored, _, err := p.Records().GetAppRecord(reportCtx, desired.Namespace, desired.Name); err == nil {
			result.RecordExists = true
			_, result.Status = p.observeJob(reportCtx, &stored)
		}
		return result, runErr
	}
	p.event(ctx, desired.Namespace, desired.Name, appliedEvent(plan.Operation), plan.Summary, false)
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
		return &StalePlanError{Namespace: d.Namespace, Name: d.Name, Needed: now}
	case (now == OpNone || now == OpRescale) && isRedeploy(planned) && current != nil && current.State == StateRunning:
		// At plan time a version created in the same apply had no record yet, so the plan
		// assumed its spec differs (and could not tell a rescale); the operation the reviewer
		// saw is still the one to run.
		return nil
	}
	return &StalePlanError{Namespace: d.Namespace, Name: d.Name, Planned: planned, Needed: now}
}

func isRedeploy(op Operation) bool {
	return op == OpSavepointRedeploy || op == OpLastStateRedeploy || op == OpStatelessRedeploy
}

// operation is one run of the step machine for one application.
type machine struct {
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
	// restoreCheck is the verdict on the state the new job restores.
	restoreCheck *RestoreCheck
}

// run carries out op with the steps the operation table registers for it.
func (o *machine) run(ctx context.Context, op Operation) error {
	steps, ok := operationSteps[op]
	if !ok || steps.run == nil {
		return fmt.Errorf("%s: operation %s is not supported", o.desired.Name, op)
	}
	return steps.run(o, ctx, op)
}

// begin writes the journal: from here on, a crash leaves the next apply a record of what
// was under way.
func (o *machine) begin(ctx context.Context, op Operation, target string) error {
	o.record.Journal = o.newJournal(op, target)
	return o.save(ctx)
}

// newJournal describes op, from what the record names now to the desired version.
func (o *machine) newJournal(op Operation, target string) *records.Journal {
	from := o.record.Version
	return &records.Journal{
		Operation: string(op), FromVersion: from.Label, ToVersion: o.desired.Version.Label,
		Step: stepStarted, StartedAt: o.p.now(), TargetState: target, From: &from, FromJobID: o.record.JobID,
		FromHighAvailability: o.record.HighAvailability, FromSecret: o.record.Secret, FromRestoredSnapshot: o.record.RestoredSnapshot,
	}
}

// step records that the journal reached step.
func (o *machine) step(ctx context.Context, step string) error {
	o.record.Journal.Step = step
	return o.save(ctx)
}

// notHealthy is a deployment whose objects were applied but whose job did not become
// healthy in time.
type notHealthy struct{ error }

func (e *notHealthy) Unwrap() error { return e.error }

// deploy applies version (with Kubernetes HA when ha, with the Secret secret) as a new
// generation with a new job id and HA cluster id, restoring restorePath, and waits until the
// job is healthy.
func (o *machine) deploy(ctx context.Context, version spec.Version, ha bool, secret *spec.OwnedSecret, restorePath string) error {
	o.record.Generation++
	o.record.JobID = JobIDFor(o.record.Namespace, o.record.Application, o.record.Generation)
	o.record.State = StateRunning
	o.record.Version, o.record.DeployedVersion, o.record.SpecHash = version, version.Label, RuntimeHash(version)
	o.record.Secret = secret
	o.record.Pods = kube.PodMetadataFor(o.desired.Labels, o.desired.Annotations, version.Label)
	o.record.RestorePath, o.record.AllowNonRestored = restorePath, o.desired.Restore.AllowNonRestoredState
	o.record.Verified = false
	if err := o.startGeneration(ctx, ha); err != nil {
		return err
	}
	if err := o.save(ctx); err != nil {
		return err
	}
	from := "with empty state"
	if restorePath != "" {
		from = "from " + restorePath
	}
	o.p.event(ctx, o.record.Namespace, o.record.Application, EventDeploying,
		fmt.Sprintf("starting version %s as job %s %s", version.Label, o.record.JobID, from), false)
	return o.rollOutAndVerify(ctx)
}

// rollOutAndVerify applies the record's deployment (a no-op when it is applied already) and
// waits, within readiness_timeout, until its job and all its tasks run and the rollout is
// complete. The whole wait is bounded: a JobManager that crash-loops must fail the
// deployment in time for a rollback, not when the Deployment's progress deadline passes.
func (o *machine) rollOutAndVerify(ctx context.Context) error {
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
func (o *machine) finish(ctx context.Context, state string) error {
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

// applyCluster renders the application cluster and server-side applies it, owned by the
// application record so that deleting the record cascades.
func (o *machine) applyCluster(ctx context.Context, version spec.Version, restorePath string, suspended bool) error {
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

func (o *machine) deployment(version spec.Version, restorePath string, suspended bool) spec.Deployment {
	d := spec.Deployment{
		Namespace: o.record.Namespace, Application: o.record.Application, Version: version,
		JobID: o.record.JobID, RestorePath: restorePath, AllowNonRestoredState: o.record.AllowNonRestored,
		Suspended: suspended, Labels: o.desired.Labels, Annotations: o.desired.Annotations, Secret: o.record.Secret,
		Pods: o.record.Pods,
	}
	if !suspended { // a cluster with no pods needs no HA
		d.HA = o.haSpec()
	}
	return d
}

// save writes the record, fenced twice: the lock must still be ours, and the record must
// not have changed since this apply read or last wrote it.
func (o *machine) save(ctx context.Context) error {
	if err := o.lock.Check(ctx); err != nil {
		return err
	}
	_, err := o.p.Records().PutAppRecord(ctx, o.record)
	return err
}
