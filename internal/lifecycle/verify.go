package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// verify waits until the record's job and all its tasks run (a bounded job: or it finished),
// checks it restored from restorePath, and optionally waits for its first completed
// checkpoint (not of a bounded job, which may finish before it takes one).
func (p *Platform) verify(ctx context.Context, record *records.AppRecord, restorePath string, requireCheckpoint bool) error {
	bounded := record.Version.Bounded
	if err := p.waitJobHealthy(ctx, record.Namespace, record.Application, record.JobID, bounded); err != nil {
		return err
	}
	requireCheckpoint = requireCheckpoint && !bounded
	client := p.Flink(record.Namespace, record.Application)
	_, err := wait.Conf[flink.CheckpointingStatistics]{
		Pending:   []string{"NO_COMPLETED_CHECKPOINT"},
		Target:    []string{"VERIFIED"},
		Retryable: flink.IsRetryable,
		Refresh: func(ctx context.Context) (flink.CheckpointingStatistics, string, error) {
			stats, err := client.Checkpoints(ctx, record.JobID)
			if err == nil {
				err = checkRestored(stats, record.JobID, restorePath)
			}
			switch {
			case err != nil:
				return stats, "", err
			case requireCheckpoint && stats.Counts.Completed == 0:
				return stats, "NO_COMPLETED_CHECKPOINT", nil
			}
			return stats, "VERIFIED", nil
		},
	}.Wait(ctx)
	return err
}

// checkRestored checks that the job restored from restorePath ("": nothing to check).
func checkRestored(stats flink.CheckpointingStatistics, jobID, restorePath string) error {
	if restorePath == "" {
		return nil
	}
	restored := stats.Latest.Restored
	if restored == nil {
		return fmt.Errorf("job %s runs but reports no restored snapshot; it should have started from %s", jobID, restorePath)
	}
	// After a failover the job restores its own latest checkpoint, which is newer.
	if !samePath(restored.ExternalPath, restorePath) && !strings.Contains(restored.ExternalPath, "/"+jobID+"/chk-") {
		return fmt.Errorf("job %s restored from %s, not from %s", jobID, restored.ExternalPath, restorePath)
	}
	return nil
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

// waitJobHealthy waits until the job and all its tasks run. A job that ends (FAILED,
// CANCELED, FINISHED) fails the wait at once with Flink's root exception, and so does a
// JobManager that crashed; only a bounded job may finish, which passes.
func (p *Platform) waitJobHealthy(ctx context.Context, namespace, name, jobID string, bounded bool) error {
	client := p.Flink(namespace, name)
	status := flink.StatusJob(client, jobID)
	job, err := flink.WaitJobRunning(ctx, func(ctx context.Context) (flink.JobDetails, string, error) {
		job, state, err := status(ctx)
		if bounded && state == flink.JobFinished {
			return job, flink.JobRunning, nil // it ran to completion before it was seen running
		}
		// No answer or no job yet: the JobManager may still be starting, but one that
		// exits (e.g. it cannot restore the snapshot) will not get better.
		if err != nil || state == flink.JobNotFound {
			if crash := p.Kube.JobManagerCrash(ctx, namespace, name, jobID); crash != "" {
				return job, "", fmt.Errorf("job %s of %s/%s did not start: %s", jobID, namespace, name, crash)
			}
		}
		return job, state, err
	}, true)
	var unexpected *wait.UnexpectedStateError
	var timeout *wait.TimeoutError
	switch {
	case errors.As(err, &unexpected):
		return fmt.Errorf("job %s of %s/%s ended %s%s", jobID, namespace, name, unexpected.State, rootCause(ctx, client, jobID))
	case errors.As(err, &timeout):
		return fmt.Errorf("%s/%s: job %s was not running before the timeout (last seen: %s)%s: %w", namespace, name, jobID,
			lastSeen(job, timeout), rootCause(context.WithoutCancel(ctx), client, jobID), timeout.Err)
	}
	return err
}

// lastSeen says how a job wait that timed out last saw the job.
func lastSeen(job flink.JobDetails, timeout *wait.TimeoutError) string {
	switch {
	case timeout.LastError != nil:
		return timeout.LastError.Error()
	case timeout.LastState == "":
		return "no answer yet"
	case timeout.LastState == flink.JobNotFound:
		return "job unknown to its JobManager"
	}
	return "job " + job.State + waitingTasks(job)
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
