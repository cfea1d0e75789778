package lifecycle

import (
	"context"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// Kubernetes Event reasons. Every operation leaves Events on the application record (and its
// JobManager Deployment, while there is one), so `kubectl describe` and `kubectl get events`
// tell the history of an application: apply's outcome (Applied, ApplyFailed) and the steps
// that change state on the way.
const (
	EventApplied          = "Applied"
	EventApplyFailed      = "ApplyFailed"
	EventDeploying        = "Deploying"
	EventRollingBack      = "RollingBack"
	EventSnapshotTaken    = "SnapshotTaken"
	EventSnapshotAdopted  = "SnapshotAdopted"
	EventSnapshotCopied   = "SnapshotCopied"
	EventCheckpointKept   = "CheckpointRecorded"
	EventSnapshotDisposed = "SnapshotDisposed"
	EventDestroyed        = "Destroyed"
	EventHACleanupFailed  = "HACleanupFailed"
)

// event records a Kubernetes Event on application app. A failure to record one is logged, not
// returned: the operation's outcome does not depend on it.
func (p *Platform) event(ctx context.Context, namespace, app, reason, message string, warning bool) {
	p.Kube.Event(context.WithoutCancel(ctx), namespace, app, reason, message, warning)
}

// snapshotEvent is the Event of a snapshot just recorded, by where it came from.
func snapshotEvent(s records.SnapshotRecord) (reason, message string) {
	switch s.Origin {
	case records.OriginImported:
		return EventSnapshotAdopted, fmt.Sprintf("snapshot %s adopted: %s", s.Name, s.Path)
	case records.OriginCopied:
		return EventSnapshotCopied, fmt.Sprintf("snapshot %s copied to %s", s.Name, s.Path)
	case records.OriginCheckpoint:
		return EventCheckpointKept, fmt.Sprintf("checkpoint %s of job %s recorded as snapshot %s", s.Path, s.JobID, s.Name)
	}
	return EventSnapshotTaken, fmt.Sprintf("%s savepoint of job %s (version %s) recorded as snapshot %s: %s",
		s.Origin, s.JobID, s.VersionLabel, s.Name, s.Path)
}
