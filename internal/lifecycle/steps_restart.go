package lifecycle

import (
	"context"
	"errors"
	"fmt"
)

// restart_task_managers: replace the TaskManager pods of a stuck job.
func (o *machine) restartStuckTaskManagers(ctx context.Context, op Operation) error {
	if err := o.begin(ctx, op, StateRunning); err != nil {
		return err
	}
	return o.restartTaskManagers(ctx)
}

// resumeRestartTaskManagers keeps a job that runs healthy again; otherwise it replaces the
// TaskManagers once more.
func (o *machine) resumeRestartTaskManagers(ctx context.Context) error {
	if err := o.rollOutAndVerify(ctx); err == nil {
		return o.finishThenAsConfigured(ctx)
	}
	return o.restartTaskManagers(ctx)
}

// restartTaskManagers replaces the TaskManager pods of a stuck job and waits, within
// readiness_timeout, until all its tasks run again. The job keeps its JobManager, which
// restores it from its latest completed checkpoint: nothing is lost either way, so a job
// that stays stuck ends the operation with Flink's reason.
func (o *machine) restartTaskManagers(ctx context.Context) error {
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
	if err := o.p.waitJobHealthy(readyCtx, r.Namespace, r.Application, r.JobID, r.Version.Bounded); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return err
		}
		o.record.Journal = nil
		return errors.Join(settingErrorf(SettingVersion, "job %s of %s/%s still does not run after its TaskManagers were "+
			"replaced: %w. Its state is untouched; fix the cause (often a new version, with %s while it cannot take a "+
			"savepoint)", r.JobID, r.Namespace, r.Application, err, SettingValue{SettingUpgradeMode, UpgradeLastState}),
			o.save(context.WithoutCancel(ctx)))
	}
	return o.finish(ctx, StateRunning)
}
