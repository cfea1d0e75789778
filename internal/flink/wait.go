package flink

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backoff paces WaitFor. Zero fields take the defaults of DefaultBackoff.
type Backoff struct {
	// Initial is the pause after the first unsuccessful check (default 100ms).
	Initial time.Duration
	// Factor multiplies the pause after each check (default 1.5; values below 1 mean 1).
	Factor float64
	// Max caps the pause (default 2s).
	Max time.Duration
}

// DefaultBackoff starts at 100ms and grows by 1.5 up to 2s.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 100 * time.Millisecond, Factor: 1.5, Max: 2 * time.Second}
}

func (b Backoff) withDefaults() Backoff {
	d := DefaultBackoff()
	if b.Initial <= 0 {
		b.Initial = d.Initial
	}
	if b.Factor == 0 {
		b.Factor = d.Factor
	}
	if b.Factor < 1 {
		b.Factor = 1
	}
	if b.Max <= 0 {
		b.Max = d.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// WaitFor calls cond until it reports done, pausing between calls as b says. It returns
// nil once cond reports done, cond's error as soon as it is not retryable (see
// IsRetryable), and the context's error (wrapping the last retryable error, if any) when
// ctx ends first. Retryable errors, such as a JobManager that is still starting, do not
// end the wait.
func WaitFor(ctx context.Context, cond func(ctx context.Context) (done bool, err error), b Backoff) error {
	b = b.withDefaults()
	delay := b.Initial
	var lastErr error
	for {
		if err := ctx.Err(); err != nil {
			return waitErr(err, lastErr)
		}
		done, err := cond(ctx)
		switch {
		case err == nil && done:
			return nil
		case err != nil && ctx.Err() != nil:
			// A call cut short by ctx says only that; the error before it says why the wait failed.
			if lastErr != nil && errors.Is(err, ctx.Err()) {
				err = lastErr
			}
			return waitErr(ctx.Err(), err)
		case err != nil && !IsRetryable(err):
			return err
		case err != nil:
			lastErr = err
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return waitErr(ctx.Err(), lastErr)
		case <-timer.C:
		}
		delay = time.Duration(float64(delay) * b.Factor)
		if delay > b.Max {
			delay = b.Max
		}
	}
}

func waitErr(ctxErr, lastErr error) error {
	if lastErr == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last error: %w)", ctxErr, lastErr)
}

// WaitForSavepoint polls a savepoint or stop-with-savepoint operation until it completes
// and returns the savepoint's location. A failed savepoint is an *OperationError whose
// message carries Flink's failure cause.
func WaitForSavepoint(ctx context.Context, c *Client, jobID, triggerID string) (string, error) {
	var op AsyncOperation
	err := WaitFor(ctx, func(ctx context.Context) (bool, error) {
		var err error
		op, err = c.SavepointStatus(ctx, jobID, triggerID)
		return err == nil && op.Completed(), err
	}, DefaultBackoff())
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

// WaitForDisposal polls a savepoint disposal until it completes. A failed disposal is an
// *OperationError carrying Flink's failure cause.
func WaitForDisposal(ctx context.Context, c *Client, triggerID string) error {
	var op AsyncOperation
	err := WaitFor(ctx, func(ctx context.Context) (bool, error) {
		var err error
		op, err = c.DisposalStatus(ctx, triggerID)
		return err == nil && op.Completed(), err
	}, DefaultBackoff())
	if err != nil {
		return fmt.Errorf("waiting for savepoint disposal (trigger %s): %w", triggerID, err)
	}
	if op.FailureCause != nil {
		return &OperationError{Cluster: c.cluster, Operation: "savepoint disposal", TriggerID: triggerID, Cause: *op.FailureCause}
	}
	return nil
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
