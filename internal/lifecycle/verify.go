package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// verify waits until the record's job and all its tasks run, checks it restored from
// restorePath, and optionally waits for its first completed checkpoint.
func (p *Platform) verify(ctx context.Context, record *records.AppRecord, restorePath string, requireCheckpoint bool) error {
	if err := p.waitJobHealthy(ctx, record.Namespace, record.Application, record.JobID); err != nil {
		return err
	}
	client := p.Flink(record.Namespace, record.Application)
	return flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		stats, err := client.Checkpoints(ctx, record.JobID)
		if err != nil {
			return false, retryableOnly(err)
		}
		if restorePath != "" {
			restored := stats.Latest.Restored
			if restored == nil {
				return false, fmt.Errorf("job %s runs but reports no restored snapshot; it should have started from %s", record.JobID, restorePath)
			}
			// After a failover the job restores its own latest checkpoint, which is newer.
			if !samePath(restored.ExternalPath, restorePath) && !strings.Contains(restored.ExternalPath, "/"+record.JobID+"/chk-") {
				return false, fmt.Errorf("job %s restored from %s, not from %s", record.JobID, restored.ExternalPath, restorePath)
			}
		}
		return !requireCheckpoint || stats.Counts.Completed > 0, nil
	}, flink.DefaultBackoff())
}

func retryableOnly(err error) error {
	if flink.IsRetryable(err) {
		return nil
	}
	return err
}

// samePath compares Flink paths, which Flink may report as file:/x or file:///x.
func samePath(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimSuffix(s, "/")
		if rest, ok := strings.CutPrefix(s, "file://"); ok {
			return "file:" + rest
		}
		return s
	}
	return norm(a) == norm(b)
}

// waitJobHealthy polls the job until it and all its tasks run. A job that ends (FAILED,
// CANCELED, FINISHED) fails the wait at once with Flink's root exception.
func (p *Platform) waitJobHealthy(ctx context.Context, namespace, name, jobID string) error {
	client := p.Flink(namespace, name)
	last := "no answer yet"
	err := flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		job, err := client.Job(ctx, jobID)
		if err != nil {
			last = err.Error()
			// A JobManager that exits (e.g. it cannot restore the snapshot) will not get better.
			if crash := p.Kube.JobManagerCrash(ctx, namespace, name, jobID); crash != "" {
				return false, fmt.Errorf("job %s of %s/%s did not start: %s", jobID, namespace, name, crash)
			}
			// The JobManager is still starting, or the job is not submitted yet.
			if flink.IsRetryable(err) || flink.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		last = "job " + job.State + waitingTasks(job)
		if flink.IsGloballyTerminal(job.State) {
			return false, fmt.Errorf("job %s of %s/%s ended %s%s", jobID, namespace, name, job.State, rootCause(ctx, client, jobID))
		}
		return flink.JobHealthy(job), nil
	}, flink.DefaultBackoff())
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s/%s: job %s was not running before the timeout (last seen: %s)%s: %w", namespace, name, jobID, last,
			rootCause(context.WithoutCancel(ctx), client, jobID), ctx.Err())
	}
	return err
}

// waitingTasks names the tasks of a job that do not run yet, e.g. while they wait for slots.
func waitingTasks(job flink.JobDetails) string {
	var waiting []string
	for _, v := range job.Vertices {
		if v.Status != flink.TaskRunning {
			waiting = append(waiting, v.Name+" "+v.Status)
		}
	}
	if len(waiting) == 0 {
		return ""
	}
	return ", tasks not running: " + strings.Join(waiting, ", ")
}

func rootCause(ctx context.Context, client *flink.Client, jobID string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	exceptions, err := client.JobExceptions(ctx, jobID)
	if err != nil || exceptions.RootException == "" {
		return ""
	}
	return ": " + firstLine(exceptions.RootException)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
