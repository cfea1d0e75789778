package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// States of a version whose record is to be deleted (see WaitVersionNotDeployed).
const (
	versionNotDeployed = "NOT_DEPLOYED"
	versionDestroying  = "APPLICATION_DESTROYING"
	versionDeployed    = "DEPLOYED"
)

// WaitVersionNotDeployed returns nil once no application record runs version label of
// application. While the application is being destroyed (its Lease says so) it waits;
// otherwise a deployed version is an error at once, after a short grace for a destroy that
// is just starting.
func (p *Platform) WaitVersionNotDeployed(ctx context.Context, namespace, application, label string) error {
	grace := time.Now().Add(10 * time.Second)
	_, err := wait.Conf[struct{}]{
		Pending: []string{versionDestroying},
		Target:  []string{versionNotDeployed},
		Refresh: func(ctx context.Context) (struct{}, string, error) {
			record, _, err := p.Records().GetAppRecord(ctx, namespace, application)
			switch {
			case errors.Is(err, records.ErrNotFound) || (err == nil && record.DeployedVersion != label):
				return struct{}{}, versionNotDeployed, nil
			case err != nil:
				return struct{}{}, "", fmt.Errorf("cannot check whether version %s/%s/%s is deployed: %w", namespace, application, label, err)
			}
			operation, err := p.Kube.LockOperation(ctx, namespace, application)
			if err != nil || operation == "destroy" || time.Now().Before(grace) {
				return struct{}{}, versionDestroying, nil
			}
			return struct{}{}, versionDeployed, nil
		},
	}.Wait(ctx)
	var unexpected *wait.UnexpectedStateError
	if errors.As(err, &unexpected) {
		return &VersionDeployedError{Namespace: namespace, Application: application, Label: label}
	}
	return err
}
