package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Result is what an apply leaves behind, for the resource to put in state.
type Result struct {
	Operation         Operation
	JobID             string
	Status            string
	DeployedVersionID string
	// RecordExists is true once the application record was written, even if a later step
	// failed: the resource must then stay in state.
	RecordExists bool
}

// Apply carries out the planned operation for moving the application from what its record
// says to desired. It classifies the change again from the record and refuses when the
// result differs from the plan: apply never does something the plan did not show.
func (p *Platform) Apply(ctx context.Context, desired Desired, planned Operation, progress Progress) (Result, error) {
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
		// assumed its spec differs; doing the planned redeploy is what the reviewer saw.
		if !(plan.Operation == OpNone && planned == OpStatelessRedeploy) {
			return Result{}, fmt.Errorf("%s/%s changed since the plan: the plan said %s, but it now needs %s (%s). "+
				"Run terraform plan again", desired.Namespace, desired.Name, planned, plan.Operation, plan.Summary)
		}
		plan = Plan{Operation: planned, Summary: describe(planned, current, desired)}
	}
	progress(plan.Summary)

	record.Labels, record.Annotations = desired.Labels, desired.Annotations

	runErr := p.run(ctx, plan.Operation, current, record, desired, progress)
	result := p.resultFrom(record, plan.Operation)
	if runErr != nil {
		p.Kube.Event(ctx, desired.Namespace, desired.Name, "ApplyFailed", plan.Summary+": "+runErr.Error(), true)
		_, _, err := p.Kube.GetAppRecord(ctx, desired.Namespace, desired.Name)
		result.RecordExists = err == nil
		return result, runErr
	}
	p.Kube.Event(ctx, desired.Namespace, desired.Name, "Applied", plan.Summary, false)
	return result, nil
}

// run executes the steps of one operation.
func (p *Platform) run(ctx context.Context, op Operation, current *Current, record *kube.AppRecord, desired Desired, progress Progress) error {
	switch op {
	case OpNone:
		record.Version, record.DeployedVersion = desired.Version, desired.Version.Label
		if current == nil { // created cancelled: only the record exists
			record.State = StateCancelled
		}
		if err := p.saveRecord(ctx, record); err != nil {
			return err
		}
		if record.State == StateRunning {
			// Labels and annotations live on the objects too; re-apply them without a restart.
			return p.applyCluster(ctx, record, desired, false)
		}
		return nil
	case OpDeploy, OpStatelessRedeploy:
		if current != nil && current.State == StateRunning {
			if err := p.cancelJob(ctx, desired.Namespace, desired.Name, current.JobID, progress); err != nil {
				return err
			}
		}
		return p.deploy(ctx, record, desired, progress)
	case OpCancel:
		if err := p.cancelJob(ctx, desired.Namespace, desired.Name, current.JobID, progress); err != nil {
			return err
		}
		record.State = StateCancelled
		if err := p.saveRecord(ctx, record); err != nil {
			return err
		}
		if err := p.applyCluster(ctx, record, desired, true); err != nil {
			return err
		}
		return p.Kube.WaitRolledOut(ctx, desired.Namespace, desired.Name, progress)
	}
	return fmt.Errorf("%s: operation %s is not supported yet", desired.Name, op)
}

// deploy starts a new job of desired.Version with a fresh job id and empty state, and waits
// until it is healthy.
func (p *Platform) deploy(ctx context.Context, record *kube.AppRecord, desired Desired, progress Progress) error {
	record.Generation++
	record.JobID = JobIDFor(desired.Namespace, desired.Name, record.Generation)
	record.State = StateRunning
	record.Version, record.DeployedVersion = desired.Version, desired.Version.Label
	if err := p.saveRecord(ctx, record); err != nil {
		return err
	}
	if err := p.applyCluster(ctx, record, desired, false); err != nil {
		return err
	}
	progress(fmt.Sprintf("%s: waiting for the JobManager and TaskManager rollout", desired.Name))
	if err := p.Kube.WaitRolledOut(ctx, desired.Namespace, desired.Name, progress); err != nil {
		return err
	}
	progress(fmt.Sprintf("%s: waiting for job %s to run", desired.Name, shortJobID(record.JobID)))
	return p.waitJobHealthy(ctx, desired.Namespace, desired.Name, record.JobID)
}

// applyCluster renders the application cluster from the record and server-side applies it,
// owned by the application record so that deleting the record cascades.
func (p *Platform) applyCluster(ctx context.Context, record *kube.AppRecord, desired Desired, suspended bool) error {
	_, recordMap, err := p.Kube.GetAppRecord(ctx, desired.Namespace, desired.Name)
	if err != nil {
		return err
	}
	owner := kube.AppOwnerRef(recordMap)
	objects, err := kube.Render(spec.Deployment{
		Namespace: desired.Namespace, Application: desired.Name, Version: record.Version,
		JobID: record.JobID, Suspended: suspended,
		Labels: desired.Labels, Annotations: desired.Annotations,
	}, owner)
	if err != nil {
		return err
	}
	return p.Kube.Apply(ctx, objects)
}

func (p *Platform) saveRecord(ctx context.Context, record *kube.AppRecord) error {
	_, err := p.Kube.PutAppRecord(ctx, *record)
	return err
}

// waitJobHealthy polls the job until it and all its tasks run. A job that ends (FAILED,
// CANCELED, FINISHED) fails the wait at once with Flink's root exception.
func (p *Platform) waitJobHealthy(ctx context.Context, namespace, name, jobID string) error {
	client := p.Flink(namespace, name)
	var last string
	err := flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		job, err := client.Job(ctx, jobID)
		if err != nil {
			last = err.Error()
			// The JobManager is still starting, or the job is not submitted yet.
			if flink.IsRetryable(err) || flink.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		last = "job " + job.State
		if flink.IsGloballyTerminal(job.State) {
			return false, fmt.Errorf("job %s of %s/%s ended %s%s", jobID, namespace, name, job.State, rootCause(ctx, client, jobID))
		}
		return flink.JobHealthy(job), nil
	}, flink.DefaultBackoff())
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s/%s: job %s was not running before the timeout (last seen: %s): %w", namespace, name, jobID, last, err)
	}
	return err
}

func rootCause(ctx context.Context, client *flink.Client, jobID string) string {
	exceptions, err := client.JobExceptions(ctx, jobID)
	if err != nil || exceptions.RootException == "" {
		return ""
	}
	return ": " + firstLine(exceptions.RootException)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// cancelJob cancels a running job and waits until Flink reports it ended. A cluster that is
// already gone or a job that already ended is not an error: the goal is "not running".
func (p *Platform) cancelJob(ctx context.Context, namespace, name, jobID string, progress Progress) error {
	if jobID == "" {
		return nil
	}
	client := p.Flink(namespace, name)
	progress(fmt.Sprintf("%s: cancelling job %s", name, shortJobID(jobID)))
	job, err := client.Job(ctx, jobID)
	switch {
	case flink.IsNotFound(err) || (err != nil && flink.IsRetryable(err)):
		return nil // nothing runs there to cancel
	case err != nil:
		return err
	case flink.IsGloballyTerminal(job.State):
		return nil
	}
	if err := client.CancelJob(ctx, jobID); err != nil && !flink.IsNotFound(err) {
		return fmt.Errorf("cancelling job %s of %s/%s: %w", jobID, namespace, name, err)
	}
	cancelCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return flink.WaitFor(cancelCtx, func(ctx context.Context) (bool, error) {
		job, err := client.Job(ctx, jobID)
		if err != nil {
			return flink.IsNotFound(err), nil
		}
		return flink.IsGloballyTerminal(job.State), nil
	}, flink.DefaultBackoff())
}

// Delete cancels the job and removes the application record; every object of the cluster is
// owned by it and is garbage-collected. It waits until all of them, and the pods, are gone.
func (p *Platform) Delete(ctx context.Context, namespace, name string, progress Progress) error {
	record, _, err := p.Kube.GetAppRecord(ctx, namespace, name)
	if errors.Is(err, kube.ErrNotFound) {
		return p.Kube.WaitClusterGone(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	if record.State == StateRunning {
		if err := p.cancelJob(ctx, namespace, name, record.JobID, progress); err != nil {
			return err
		}
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
