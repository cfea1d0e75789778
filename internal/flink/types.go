package flink

import "strings"

// Job states (org.apache.flink.api.common.JobStatus).
const (
	JobInitializing = "INITIALIZING"
	JobCreated      = "CREATED"
	JobRunning      = "RUNNING"
	JobFailing      = "FAILING"
	JobFailed       = "FAILED"
	JobCancelling   = "CANCELLING"
	JobCanceled     = "CANCELED"
	JobFinished     = "FINISHED"
	JobRestarting   = "RESTARTING"
	JobSuspended    = "SUSPENDED"
	JobReconciling  = "RECONCILING"
)

// Execution states of vertices and tasks (org.apache.flink.runtime.execution.ExecutionState).
const (
	TaskCreated      = "CREATED"
	TaskScheduled    = "SCHEDULED"
	TaskDeploying    = "DEPLOYING"
	TaskRunning      = "RUNNING"
	TaskFinished     = "FINISHED"
	TaskCanceling    = "CANCELING"
	TaskCanceled     = "CANCELED"
	TaskFailed       = "FAILED"
	TaskReconciling  = "RECONCILING"
	TaskInitializing = "INITIALIZING"
)

// Statuses of asynchronous operations (savepoints, disposals).
const (
	OperationInProgress = "IN_PROGRESS"
	OperationCompleted  = "COMPLETED"
)

// Savepoint formats.
const (
	FormatCanonical = "CANONICAL"
	FormatNative    = "NATIVE"
)

// IsGloballyTerminal reports whether a job in this state will never run again:
// FINISHED, CANCELED or FAILED.
func IsGloballyTerminal(state string) bool {
	switch state {
	case JobFinished, JobCanceled, JobFailed:
		return true
	}
	return false
}

// DashboardConfig is GET /config.
type DashboardConfig struct {
	RefreshInterval int64             `json:"refresh-interval"`
	TimezoneName    string            `json:"timezone-name"`
	TimezoneOffset  int64             `json:"timezone-offset"`
	FlinkVersion    string            `json:"flink-version"`
	FlinkRevision   string            `json:"flink-revision"`
	Features        DashboardFeatures `json:"features"`
}

// DashboardFeatures are the web UI features the cluster enables.
type DashboardFeatures struct {
	WebSubmit  bool `json:"web-submit"`
	WebCancel  bool `json:"web-cancel"`
	WebRescale bool `json:"web-rescale"`
	WebHistory bool `json:"web-history"`
}

// ClusterOverview is GET /overview.
type ClusterOverview struct {
	TaskManagers        int    `json:"taskmanagers"`
	TaskManagersBlocked int    `json:"taskmanagers-blocked"`
	SlotsTotal          int    `json:"slots-total"`
	SlotsAvailable      int    `json:"slots-available"`
	SlotsFreeAndBlocked int    `json:"slots-free-and-blocked"`
	JobsRunning         int    `json:"jobs-running"`
	JobsFinished        int    `json:"jobs-finished"`
	JobsCancelled       int    `json:"jobs-cancelled"`
	JobsFailed          int    `json:"jobs-failed"`
	FlinkVersion        string `json:"flink-version"`
	FlinkCommit         string `json:"flink-commit"`
}

// JobDetails is GET /jobs/:jobid.
type JobDetails struct {
	JID            string `json:"jid"`
	Name           string `json:"name"`
	IsStoppable    bool   `json:"isStoppable"`
	State          string `json:"state"`
	JobType        string `json:"job-type"` // STREAMING or BATCH; "" before Flink 1.20, which does not report it
	StartTime      int64  `json:"start-time"`
	EndTime        int64  `json:"end-time"` // -1 while the job runs
	Duration       int64  `json:"duration"`
	MaxParallelism int64  `json:"maxParallelism"`
	Now            int64  `json:"now"`
	// Timestamps holds, per job state, when the job entered it (0 if it never did).
	Timestamps map[string]int64 `json:"timestamps"`
	Vertices   []JobVertex      `json:"vertices"`
	// StatusCounts counts vertices per execution state.
	StatusCounts     map[string]int `json:"status-counts"`
	PendingOperators int            `json:"pending-operators"` // Flink 2.x
}

// JobVertex is one vertex of JobDetails.
type JobVertex struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	MaxParallelism int    `json:"maxParallelism"`
	Parallelism    int    `json:"parallelism"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start-time"`
	EndTime        int64  `json:"end-time"`
	Duration       int64  `json:"duration"`
	// Tasks counts the vertex's subtasks per execution state.
	Tasks map[string]int `json:"tasks"`
}

// JobConfig is GET /jobs/:jobid/config.
type JobConfig struct {
	JID             string          `json:"jid"`
	Name            string          `json:"name"`
	ExecutionConfig ExecutionConfig `json:"execution-config"`
}

// ExecutionConfig is the job's ExecutionConfig as Flink reports it.
type ExecutionConfig struct {
	ExecutionMode   string `json:"execution-mode"`
	RestartStrategy string `json:"restart-strategy"`
	JobParallelism  int    `json:"job-parallelism"`
	ObjectReuseMode bool   `json:"object-reuse-mode"`
	// UserConfig holds the job's global job parameters.
	UserConfig map[string]string `json:"user-config"`
}

// JobExceptions is GET /jobs/:jobid/exceptions.
type JobExceptions struct {
	// RootException is the stack trace of the failure that last failed or restarted the
	// job. Flink 1.x reports it directly; for Flink 2.x, which dropped the field, the
	// client fills it (and Timestamp) from the newest exception history entry.
	RootException string               `json:"root-exception"`
	Timestamp     int64                `json:"timestamp"`
	AllExceptions []ExecutionException `json:"all-exceptions"` // Flink 1.x only
	Truncated     bool                 `json:"truncated"`
	History       ExceptionHistory     `json:"exceptionHistory"`
}

// ExecutionException is an entry of the deprecated "all-exceptions" list (Flink 1.x).
type ExecutionException struct {
	Exception     string `json:"exception"`
	Task          string `json:"task"`
	Location      string `json:"location"`
	Timestamp     int64  `json:"timestamp"`
	TaskManagerID string `json:"taskManagerId"`
}

// ExceptionHistory lists the job's recent failures, newest first.
type ExceptionHistory struct {
	Entries   []RootExceptionInfo `json:"entries"`
	Truncated bool                `json:"truncated"`
}

// ExceptionInfo is one failure.
type ExceptionInfo struct {
	ExceptionName string            `json:"exceptionName"`
	Stacktrace    string            `json:"stacktrace"`
	Timestamp     int64             `json:"timestamp"`
	TaskName      string            `json:"taskName,omitempty"`
	Location      string            `json:"location,omitempty"`
	Endpoint      string            `json:"endpoint,omitempty"`
	TaskManagerID string            `json:"taskManagerId,omitempty"`
	FailureLabels map[string]string `json:"failureLabels,omitempty"`
}

// Message returns the first line of the stack trace, e.g. "java.lang.RuntimeException: boom".
func (e ExceptionInfo) Message() string {
	s := strings.TrimSpace(e.Stacktrace)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return e.ExceptionName
	}
	return s
}

// RootExceptionInfo is a failure with the failures that happened concurrently with it.
type RootExceptionInfo struct {
	ExceptionInfo
	ConcurrentExceptions []ExceptionInfo `json:"concurrentExceptions"`
}

// SavepointRequest is the body of POST /jobs/:jobid/savepoints.
type SavepointRequest struct {
	// TargetDirectory is where the savepoint goes; empty uses the cluster's default
	// (state.savepoints.dir / execution.checkpointing.savepoint-dir).
	TargetDirectory string
	// CancelJob cancels the job once the savepoint completed.
	CancelJob bool
	// FormatType is CANONICAL or NATIVE; empty leaves Flink's default (CANONICAL).
	FormatType string
	// TriggerID makes the trigger idempotent: Flink treats a repeated request with the same
	// id as the same operation. Empty lets the client generate one, so that a retried
	// trigger never starts a second savepoint.
	TriggerID string
}

// StopRequest is the body of POST /jobs/:jobid/stop.
type StopRequest struct {
	TargetDirectory string
	// Drain emits MAX_WATERMARK before the savepoint, flushing event-time timers and windows.
	Drain      bool
	FormatType string
	TriggerID  string // see SavepointRequest.TriggerID
}

// AsyncOperation is the status of an asynchronous operation (savepoint, stop-with-
// savepoint, savepoint disposal).
type AsyncOperation struct {
	// Status is IN_PROGRESS or COMPLETED. A COMPLETED operation failed if FailureCause is set.
	Status string
	// Location is the savepoint path of a successful savepoint operation.
	Location     string
	FailureCause *FailureCause
}

// Completed reports whether the operation is over (successfully or not).
func (o AsyncOperation) Completed() bool { return o.Status == OperationCompleted }

// Failed reports whether the operation completed with a failure.
func (o AsyncOperation) Failed() bool { return o.Completed() && o.FailureCause != nil }

// FailureCause is Flink's serialized throwable of a failed operation.
type FailureCause struct {
	Class               string `json:"class"`
	StackTrace          string `json:"stack-trace"`
	SerializedThrowable string `json:"serialized-throwable,omitempty"`
}

// Summary returns the most specific line of the failure: the innermost "Caused by:" of
// the stack trace, else its first line, without java.util.concurrent wrapper classes.
func (f FailureCause) Summary() string {
	var first, innermost string
	for _, line := range strings.Split(f.StackTrace, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "at ") || strings.HasPrefix(line, "...") {
			continue
		}
		if first == "" {
			first = line
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Caused by: "); ok {
			innermost = rest
		}
	}
	switch {
	case innermost != "":
		return stripWrappers(innermost)
	case first != "":
		return stripWrappers(first)
	case f.Class != "":
		return f.Class
	}
	return "unknown failure"
}

// CheckpointingStatistics is GET /jobs/:jobid/checkpoints.
type CheckpointingStatistics struct {
	Counts  CheckpointCounts       `json:"counts"`
	Latest  LatestCheckpoints      `json:"latest"`
	History []CheckpointStatistics `json:"history"`
}

// CheckpointCounts counts the job's checkpoints and savepoints.
type CheckpointCounts struct {
	Restored   int64 `json:"restored"`
	Total      int64 `json:"total"`
	InProgress int64 `json:"in_progress"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
}

// LatestCheckpoints holds the newest checkpoint of each kind; nil when there is none.
type LatestCheckpoints struct {
	Completed *CheckpointStatistics `json:"completed"`
	Savepoint *CheckpointStatistics `json:"savepoint"`
	Failed    *CheckpointStatistics `json:"failed"`
	Restored  *RestoredCheckpoint   `json:"restored"`
}

// CheckpointStatistics describes one checkpoint or savepoint.
type CheckpointStatistics struct {
	ClassName               string `json:"className"` // completed, failed, in_progress
	ID                      int64  `json:"id"`
	Status                  string `json:"status"` // COMPLETED, FAILED, IN_PROGRESS
	IsSavepoint             bool   `json:"is_savepoint"`
	SavepointFormat         string `json:"savepointFormat"`
	CheckpointType          string `json:"checkpoint_type"` // CHECKPOINT, UNALIGNED_CHECKPOINT, SAVEPOINT, SYNC_SAVEPOINT
	TriggerTimestamp        int64  `json:"trigger_timestamp"`
	LatestAckTimestamp      int64  `json:"latest_ack_timestamp"`
	StateSize               int64  `json:"state_size"`
	CheckpointedSize        int64  `json:"checkpointed_size"`
	EndToEndDuration        int64  `json:"end_to_end_duration"`
	NumSubtasks             int    `json:"num_subtasks"`
	NumAcknowledgedSubtasks int    `json:"num_acknowledged_subtasks"`
	ExternalPath            string `json:"external_path"`
	Discarded               bool   `json:"discarded"`
	FailureTimestamp        int64  `json:"failure_timestamp"`
	FailureMessage          string `json:"failure_message"`
}

// RestoredCheckpoint is the checkpoint or savepoint the job restored from.
type RestoredCheckpoint struct {
	ID               int64  `json:"id"`
	RestoreTimestamp int64  `json:"restore_timestamp"`
	IsSavepoint      bool   `json:"is_savepoint"`
	ExternalPath     string `json:"external_path"`
}

// Parallelism bounds a vertex's parallelism under the adaptive scheduler.
type Parallelism struct {
	LowerBound int `json:"lowerBound"`
	UpperBound int `json:"upperBound"`
}

// VertexResourceRequirements is the resource requirement of one job vertex.
type VertexResourceRequirements struct {
	Parallelism Parallelism `json:"parallelism"`
}

// ResourceRequirements maps job vertex ids to their requirements
// (GET/PUT /jobs/:jobid/resource-requirements).
type ResourceRequirements map[string]VertexResourceRequirements
