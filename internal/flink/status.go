package flink

import (
	"context"
	"errors"
	"net/http"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// States that StatusJob reports beside Flink's own job states.
const (
	// JobNotFound: the JobManager does not know the job (not submitted yet, or gone).
	JobNotFound = "NOT_FOUND"
	// JobStartingTasks: the job is RUNNING, but not all its tasks are (they wait for slots
	// or are being deployed). StatusJob reports RUNNING only for a healthy job (JobHealthy).
	JobStartingTasks = "RUNNING_STARTING_TASKS"
)

// Cancel request states (see RequestCancel).
const (
	cancelAccepted  = "CANCEL_ACCEPTED"
	cancelNotNeeded = "NOT_RUNNING"
)

// StatusJob reads the job: its state is Flink's, but JobStartingTasks for a RUNNING job
// that is not healthy yet, and JobNotFound for a job the JobManager does not know.
func StatusJob(c *Client, jobID string) wait.Refresh[JobDetails] {
	return func(ctx context.Context) (JobDetails, string, error) {
		job, err := c.Job(ctx, jobID)
		switch {
		case IsNotFound(err):
			return job, JobNotFound, nil
		case err != nil:
			return job, "", err
		case job.State == JobRunning && !JobHealthy(job):
			return job, JobStartingTasks, nil
		}
		return job, job.State, nil
	}
}

// StatusSavepoint reads a savepoint or stop-with-savepoint operation: IN_PROGRESS or
// COMPLETED (successfully or not).
func StatusSavepoint(c *Client, jobID, triggerID string) wait.Refresh[AsyncOperation] {
	return func(ctx context.Context) (AsyncOperation, string, error) {
		op, err := c.SavepointStatus(ctx, jobID, triggerID)
		return op, op.Status, err
	}
}

// statusCancelRequest sends a cancel request: accepted, or not needed for a job Flink
// does not know or that already ended otherwise (409).
func statusCancelRequest(c *Client, jobID string) wait.Refresh[struct{}] {
	return func(ctx context.Context) (struct{}, string, error) {
		err := c.CancelJob(ctx, jobID)
		var apiErr *APIError
		switch {
		case err == nil:
			return struct{}{}, cancelAccepted, nil
		case IsNotFound(err), errors.As(err, &apiErr) && apiErr.From == FromFlink && apiErr.StatusCode == http.StatusConflict:
			return struct{}{}, cancelNotNeeded, nil
		}
		return struct{}{}, "", err
	}
}
