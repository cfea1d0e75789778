package lifecycle

import (
	"context"
	"fmt"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// Kubernetes Event reasons. Every operation leaves Events on the application record (and its
// JobManager Deployment, while there is one), so `kubectl describe` and `kubectl get events`
// tell the history of an application: each apply's outcome, named after its operation
// (Deployed, Upgraded, Suspended, ... or ApplyFailed), and the steps that change state on the
// way (the savepoint, the job cancelled, the new job starting, a rollback and its reason).
const (
	EventApplied               = "Applied" // records and labels only: no job was touched
	EventApplyFailed           = "ApplyFailed"
	EventDeployed              = "Deployed"
	EventUpgraded              = "Upgraded"
	EventSuspended             = "Suspended"
	EventResumed               = "Resumed"
	EventCancelled             = "Cancelled"
	EventRescaled              = "Rescaled"
	EventReprocessed           = "Reprocessed"
	EventRecovered             = "Recovered"
	EventTaskManagersRestarted = "TaskManagersRestarted"
	EventDeploying             = "Deploying"
	EventJobCancelled          = "JobCancelled"
	EventRollingBack           = "RollingBack"
	EventRolledBack            = "RolledBack"
	EventSnapshotTaken         = "SnapshotTaken"
	EventSnapshotAdopted       = "SnapshotAdopted"
	EventSnapshotCopied        = "SnapshotCopied"
	EventCheckpointKept        = "CheckpointRecorded"
	EventSnapshotDisposed      = "SnapshotDisposed"
	EventSnapshotPruned        = "SnapshotPruned"
	EventDestroyed             = "Destroyed"
	EventHACleanupFailed       = "HACleanupFailed"
	EventLockTakenOver         = "LockTakenOver"
)

// operationEvents is the reason of the Event a successful apply leaves, by its operation.
var operationEvents = map[Operation]string{
	OpNone:                EventApplied,
	OpDeploy:              EventDeployed,
	OpSavepointRedeploy:   EventUpgraded,
	OpLastStateRedeploy:   EventUpgraded,
	OpStatelessRedeploy:   EventUpgraded,
	OpSuspend:             EventSuspended,
	OpResume:              EventResumed,
	OpCancel:              EventCancelled,
	OpRescale:             EventRescaled,
	OpReprocess:           EventReprocessed,
	OpRecover:             EventRecovered,
	OpRestartTaskManagers: EventTaskManagersRestarted,
}

// appliedEvent is the reason of the Event a successful apply of op leaves.
func appliedEvent(op Operation) string {
	if reason, ok := operationEvents[op]; ok {
		return reason
	}
	return EventApplied
}

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
