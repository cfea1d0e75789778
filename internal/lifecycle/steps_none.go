package lifecycle

import "context"

// none: nothing Flink sees changed. The record takes the desired version's spec; a
// running cluster gets the labels and annotations again, without a restart.
func (o *machine) keepDeployed(ctx context.Context, _ Operation) error {
	d := o.desired
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
	if o.current != nil && o.current.State == StateFinished {
		return o.endFinished(ctx)
	}
	if o.record.State == StateRunning {
		// Labels and annotations live on the objects too; re-apply them without a restart.
		if err := o.applyCluster(ctx, o.record.Version, o.record.RestorePath, false); err != nil {
			return err
		}
	}
	o.dropSupersededHA(ctx) // what an interrupted cleanup left
	return nil
}
