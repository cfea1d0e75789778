package lifecycle

import (
	"context"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// desiredSecret is the Secret the desired version runs with: the record's when the secret
// settings did not change, else a new one written with the desired values (once per apply;
// nil when there are none). It is written before any record names it.
func (o *machine) desiredSecret(ctx context.Context) (*spec.OwnedSecret, error) {
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
func (o *machine) adoptSecret(ctx context.Context) error {
	secret, err := o.desiredSecret(ctx)
	if err != nil {
		return err
	}
	o.record.Secret = secret
	return nil
}

// secretsApplied reports whether the record ends up naming the Secret with the desired values.
func (o *machine) secretsApplied() bool {
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
func (o *machine) pruneSecrets(ctx context.Context) {
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
