package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
)

// stateless_redeploy and cancel: cancel the old job, then start the new version with empty
// state or scale the cluster to zero.
func (o *machine) cancelJobThen(ctx context.Context, op Operation) error {
	target := StateRunning
	if op == OpCancel {
		target = StateCancelled
	}
	if err := o.begin(ctx, op, target); err != nil {
		return err
	}
	return o.cancelThen(ctx)
}

// cancelThen ends a journaled stateless_redeploy or cancel: it cancels the old job, then
// starts the new version with empty state, or scales the cluster to zero.
func (o *machine) cancelThen(ctx context.Context) error {
	j := o.record.Journal
	if j.Step == stepStarted {
		if err := o.p.cancelJob(ctx, o.record.Namespace, o.record.Application, j.FromJobID, o.progress); err != nil {
			return err
		}
		o.p.event(ctx, o.record.Namespace, o.record.Application, EventJobCancelled,
			fmt.Sprintf("job %s of version %s cancelled without a savepoint (%s)", j.FromJobID, j.FromVersion, j.Operation), false)
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

// cancelJob cancels a running job and waits until Flink reports it ended: it sends the
// cancel request, then waits for a terminal state. A job Flink does not know, or one that
// already ended, is not an error: the goal is "not running". A JobManager that does not
// answer is asked again for a while (it may be electing a leader) before it counts as gone,
// so a running job is never left to be killed with its pod.
func (p *Platform) cancelJob(ctx context.Context, namespace, name, jobID string, progress Progress) error {
	if jobID == "" {
		return nil
	}
	client := p.Flink(namespace, name)
	progress(fmt.Sprintf("%s: cancelling job %s", name, shortJobID(jobID)))
	cancelCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := flink.RequestCancel(cancelCtx, client, jobID)
	if err != nil && cancelCtx.Err() != nil && ctx.Err() == nil {
		// Unreachable for two minutes: nothing answers there to cancel.
		progress(fmt.Sprintf("%s: the JobManager did not answer; treating job %s as gone", name, shortJobID(jobID)))
		return nil
	}
	if err == nil {
		_, err = flink.WaitJobEnded(cancelCtx, client, jobID)
	}
	if err != nil {
		return fmt.Errorf("cancelling job %s of %s/%s: %w", jobID, namespace, name, err)
	}
	return nil
}
