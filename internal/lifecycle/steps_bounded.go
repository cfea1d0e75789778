package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// Bounded versions: a job that ends by itself. FINISHED is its success; with
// wait_for_completion apply waits for it, then scales the cluster to zero and records the
// application as finished, which the next plan leaves alone.

// finishStarted ends an operation whose new job is healthy. A bounded job is then, if the
// configuration asks, waited for until it finished; the operation itself is over already,
// so a job that fails or outlasts the apply leaves no journal behind.
func (o *machine) finishStarted(ctx context.Context) error {
	if err := o.finish(ctx, StateRunning); err != nil {
		return err
	}
	if !o.record.Version.Bounded || !o.desired.WaitForCompletion {
		return nil
	}
	if err := o.awaitFinished(ctx); err != nil {
		return err
	}
	return o.endFinished(ctx)
}

// awaitFinished waits, within the apply's timeout, until the bounded job finished.
func (o *machine) awaitFinished(ctx context.Context) error {
	r := o.record
	o.progress(fmt.Sprintf("%s: waiting for job %s (bounded version %s) to finish", o.desired.Name, shortJobID(r.JobID), r.Version.Label))
	client := o.p.Flink(r.Namespace, r.Application)
	job, err := flink.WaitJobEnded(ctx, client, r.JobID)
	var timeout *wait.TimeoutError
	switch {
	case errors.As(err, &timeout):
		return fmt.Errorf("%s: job %s (bounded version %s) did not finish within the apply's timeout; it keeps running, and "+
			"reads as finished once it did: %w", o.desired.Name, r.JobID, r.Version.Label, timeout.Err)
	case err != nil:
		return err
	case job.State != flink.JobFinished:
		return fmt.Errorf("%s: job %s (bounded version %s) ended %s%s", o.desired.Name, r.JobID, r.Version.Label, job.State,
			rootCause(ctx, client, r.JobID))
	}
	return nil
}

// endFinished records that the bounded job finished and scales its cluster to zero: a
// finished job needs no compute, and the record keeps the outcome.
func (o *machine) endFinished(ctx context.Context) error {
	state := StateFinished
	if o.desired.State != StateRunning {
		state = o.desired.State
	}
	o.progress(fmt.Sprintf("%s: job %s finished; scaling the cluster to zero", o.desired.Name, shortJobID(o.record.JobID)))
	o.record.State = state
	o.record.Version, o.record.DeployedVersion = o.desired.Version, o.desired.Version.Label
	if err := o.save(ctx); err != nil {
		return err
	}
	if err := o.scaleToZeroAndWait(ctx); err != nil {
		return err
	}
	return o.finish(ctx, state)
}
