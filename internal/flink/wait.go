package flink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// jobNotEnded are the job states on the way to running all its tasks, or back to it.
var jobNotEnded = []string{
	JobInitializing, JobCreated, JobStartingTasks, JobFailing, JobCancelling, JobRestarting, JobSuspended, JobReconciling,
}

// jobEnded are the globally terminal job states (see IsGloballyTerminal).
var jobEnded = []string{JobFinished, JobCanceled, JobFailed}

// WaitJobRunning waits until the job refresh reads (StatusJob, possibly wrapped) and all
// its tasks run. A job that ended ends the wait with a *wait.UnexpectedStateError, and so does
// one its JobManager does not know unless starting. Retryable errors (IsRetryable) do not end
// it. starting is for a job that is being deployed: its JobManager may not have submitted it
// yet, and the API server's service proxy (or an ingress) may not serve its new Service yet,
// so a 404 that is not Flink's keeps the wait going too, until ctx ends; the timeout error
// then carries that answer.
func WaitJobRunning(ctx context.Context, refresh wait.Refresh[JobDetails], starting bool) (JobDetails, error) {
	pending, retryable := jobNotEnded, IsRetryable
	if starting {
		pending = append(slices.Clip(pending), JobNotFound)
		retryable = func(err error) bool { return IsRetryable(err) || notServedYet(err) }
	}
	return wait.Conf[JobDetails]{Pending: pending, Target: []string{JobRunning}, Refresh: refresh, Retryable: retryable}.Wait(ctx)
}

// notServedYet reports a 404 from whatever is in front of Flink (the service proxy, an
// ingress) rather than from Flink.
func notServedYet(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.From != FromFlink && apiErr.StatusCode == http.StatusNotFound
}

// WaitJobEnded waits until the job reached a globally terminal state or its JobManager no
// longer knows it (JobNotFound). Retryable errors (IsRetryable) do not end the wait.
func WaitJobEnded(ctx context.Context, c *Client, jobID string) (JobDetails, error) {
	return wait.Conf[JobDetails]{
		Target: append(slices.Clip(jobEnded), JobNotFound), Refresh: StatusJob(c, jobID), Retryable: IsRetryable,
	}.Wait(ctx)
}

// RequestCancel asks Flink to cancel the job, asking again while the JobManager gives a
// retryable answer, until ctx ends. A job Flink does not know, or one that already ended
// otherwise (409), needs no cancelling: that is no error. Flink cancels asynchronously:
// follow with WaitJobEnded.
func RequestCancel(ctx context.Context, c *Client, jobID string) error {
	_, err := wait.Conf[struct{}]{
		Target: []string{cancelAccepted, cancelNotNeeded}, Refresh: statusCancelRequest(c, jobID), Retryable: IsRetryable,
	}.Wait(ctx)
	return err
}

// WaitForSavepoint polls a savepoint or stop-with-savepoint operation until it completes
// and returns the savepoint's location. A failed savepoint is an *OperationError whose
// message carries Flink's failure cause.
func WaitForSavepoint(ctx context.Context, c *Client, jobID, triggerID string) (string, error) {
	op, err := waitOperation(ctx, StatusSavepoint(c, jobID, triggerID))
	if err != nil {
		return "", fmt.Errorf("waiting for savepoint of job %s (trigger %s): %w", jobID, triggerID, err)
	}
	if op.FailureCause != nil {
		return "", &OperationError{Cluster: c.cluster, Operation: "savepoint", JobID: jobID, TriggerID: triggerID, Cause: *op.FailureCause}
	}
	if op.Location == "" {
		return "", fmt.Errorf("flink cluster %s: savepoint of job %s (trigger %s) completed without a location", c.cluster, jobID, triggerID)
	}
	return op.Location, nil
}

// waitOperation waits until an asynchronous operation completed, successfully or not.
func waitOperation(ctx context.Context, refresh wait.Refresh[AsyncOperation]) (AsyncOperation, error) {
	return wait.Conf[AsyncOperation]{
		Pending: []string{OperationInProgress}, Target: []string{OperationCompleted}, Refresh: refresh, Retryable: IsRetryable,
	}.Wait(ctx)
}

// JobHealthy reports whether the job is RUNNING with every vertex RUNNING. A job whose
// tasks still wait for TaskManager slots (SCHEDULED) or are being deployed is not healthy.
func JobHealthy(j JobDetails) bool {
	if j.State != JobRunning || len(j.Vertices) == 0 {
		return false
	}
	for _, v := range j.Vertices {
		if v.Status != TaskRunning {
			return false
		}
	}
	return true
}
