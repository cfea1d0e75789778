package acctest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
)

// Checkpointed is a count of the fixture job that a completed checkpoint holds.
type Checkpointed struct {
	// Count was read before CheckpointID was triggered, so the checkpoint's state holds at
	// least Count.Counted events.
	Count        FixtureCount
	CheckpointID int64
}

// WaitCheckpointed reads the fixture job's count and then waits until n checkpoints (not
// savepoints) triggered after that reading completed. It returns the reading and the newest
// of those checkpoints: a job that recovers from its latest completed checkpoint restores at
// least that checkpoint and at least that count.
func WaitCheckpointed(ctx context.Context, hc *http.Client, restBase, jobID string, n int) (Checkpointed, error) {
	var cp Checkpointed
	var read time.Time
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		c, err := ReadFixtureCount(ctx, hc, restBase, jobID)
		if err == nil && c.Counted > 0 {
			cp.Count, read = c, time.Now()
		}
		return err == nil && c.Counted > 0, nil
	}, flink.IsRetryable)
	if err != nil {
		return cp, fmt.Errorf("job %s: the counter did not become readable: %w", jobID, err)
	}
	fc := flink.New(jobID, restBase, hc)
	last := "no checkpoint statistics yet"
	err = wait.Until(ctx, func(ctx context.Context) (bool, error) {
		stats, err := fc.Checkpoints(ctx, jobID)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		done := 0
		for _, h := range stats.History {
			if h.Status == "COMPLETED" && !h.IsSavepoint && h.TriggerTimestamp > read.UnixMilli() {
				done++
				cp.CheckpointID = max(cp.CheckpointID, h.ID)
			}
		}
		last = fmt.Sprintf("%d checkpoints completed since the count was read", done)
		return done >= n, nil
	}, flink.IsRetryable)
	if err != nil {
		return cp, fmt.Errorf("job %s: waiting for %d checkpoints after counting %d: %w (last: %s)", jobID, n, cp.Count.Counted, err, last)
	}
	return cp, nil
}

// WaitRestored waits until the job runs again (RUNNING, all tasks RUNNING) having restored a
// snapshot at or after since, and returns what it restored.
func WaitRestored(ctx context.Context, hc *http.Client, restBase, jobID string, since time.Time) (flink.RestoredCheckpoint, error) {
	fc := flink.New(jobID, restBase, hc)
	last := "no answer yet"
	var restored flink.RestoredCheckpoint
	err := wait.Until(ctx, func(ctx context.Context) (bool, error) {
		job, err := fc.Job(ctx, jobID)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if !flink.JobHealthy(job) {
			last = "job " + job.State
			return false, nil
		}
		stats, err := fc.Checkpoints(ctx, jobID)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		r := stats.Latest.Restored
		if r == nil || r.RestoreTimestamp < since.UnixMilli() {
			last = fmt.Sprintf("job RUNNING, restored nothing since %s (%+v)", since.Format(time.TimeOnly), r)
			return false, nil
		}
		restored = *r
		return true, nil
	}, flink.IsRetryable)
	if err != nil {
		return restored, fmt.Errorf("job %s did not run again from a restored snapshot: %w (last: %s)", jobID, err, last)
	}
	return restored, nil
}

// WaitFirstRestore returns the first snapshot the job restored at or after since, as soon as
// Flink reports it (the job need not run yet). It polls often: a later failover would replace
// what Flink reports as restored.
func WaitFirstRestore(ctx context.Context, hc *http.Client, restBase, jobID string, since time.Time) (flink.RestoredCheckpoint, error) {
	fc := flink.New(jobID, restBase, hc)
	var last string
	for {
		stats, err := fc.Checkpoints(ctx, jobID)
		switch {
		case err != nil:
			last = err.Error()
		case stats.Latest.Restored != nil && stats.Latest.Restored.RestoreTimestamp >= since.UnixMilli():
			return *stats.Latest.Restored, nil
		default:
			last = fmt.Sprintf("restored nothing since %s (%+v)", since.Format(time.TimeOnly), stats.Latest.Restored)
		}
		select {
		case <-ctx.Done():
			return flink.RestoredCheckpoint{}, fmt.Errorf("job %s restored nothing: %w (last: %s)", jobID, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
