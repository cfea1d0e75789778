package lifecycle

import "context"

// suspend: stop the job with a savepoint and scale the cluster to zero.
func (o *machine) suspend(ctx context.Context, op Operation) error {
	if err := o.begin(ctx, op, StateSuspended); err != nil {
		return err
	}
	if err := o.takeState(ctx, op); err != nil {
		return err
	}
	return o.scaleToZero(ctx)
}

// scaleToZero ends a suspend: the cluster keeps its objects with no pods.
func (o *machine) scaleToZero(ctx context.Context) error {
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

func (o *machine) scaleToZeroAndWait(ctx context.Context) error {
	if err := o.applyCluster(ctx, o.record.Version, "", true); err != nil {
		return err
	}
	return o.p.Kube.WaitRolledOut(ctx, o.record.Namespace, o.record.Application, o.progress)
}
