package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
)

// Observed is an application as it is now: its record joined with what Flink reports.
type Observed struct {
	Current
	// Status is Flink's job state (RUNNING, CANCELED, …), "STOPPED" when the cluster is
	// scaled to zero, or "UNREACHABLE" when the JobManager does not answer.
	Status      string
	Labels      map[string]string
	Annotations map[string]string
}

// Status values that are not Flink job states.
const (
	StatusStopped     = "STOPPED"
	StatusUnreachable = "UNREACHABLE"
)

// Observe reads an application's record and asks Flink how its job is. It returns nil when
// the application has no record (deleted outside Terraform).
func (p *Platform) Observe(ctx context.Context, namespace, name string) (*Observed, error) {
	record, _, err := p.Records().GetAppRecord(ctx, namespace, name)
	if errors.Is(err, records.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o := &Observed{Labels: record.Labels, Annotations: record.Annotations}
	o.Current, o.Status = p.observeJob(ctx, &record)
	if record.Journal != nil {
		// An interrupted apply: reading back a state no configuration asks for makes the next
		// plan differ, and classify it as recover.
		o.State = StateRecovering
	}
	return o, nil
}

// currentFrom is Observe's view of the record as Classify needs it.
func (p *Platform) currentFrom(ctx context.Context, record *records.AppRecord) *Current {
	current, _ := p.observeJob(ctx, record)
	return &current
}

// observeJob reports a job that ended behind Terraform's back (cancelled with the Flink UI,
// failed for good) as StateCancelled: the next plan then shows the drift and restarts it. A
// bounded version's job that finished is StateFinished.
func (p *Platform) observeJob(ctx context.Context, record *records.AppRecord) (Current, string) {
	current := Current{Version: record.Version, State: record.State, JobID: record.JobID, Journal: record.Journal,
		LastSnapshotPath: record.LastSnapshotPath, LastSnapshotName: record.LastSnapshotName, HighAvailability: record.HighAvailability,
		Secret: record.Secret, RestoredSnapshot: record.RestoredSnapshot}
	switch record.State {
	case StateFinished:
		return current, flink.JobFinished
	case StateRunning:
	default:
		return current, StatusStopped
	}
	client := p.Flink(record.Namespace, record.Application)
	job, err := client.Job(ctx, record.JobID)
	switch {
	case err == nil:
		if job.State == flink.JobFinished && record.Version.Bounded {
			current.State = StateFinished
		} else if flink.IsGloballyTerminal(job.State) {
			current.State = StateCancelled
		} else if problem := stuck(ctx, client, record, job); problem != "" {
			current.State, current.Problem = StateStuck, problem
		}
		return current, job.State
	case flink.IsNotFound(err):
		// The JobManager answers but does not know the job: it never started or was replaced.
		current.State = StateCancelled
		return current, "NOT_FOUND"
	default:
		return current, StatusUnreachable
	}
}

func (p *Platform) resultFrom(record *records.AppRecord, op Operation) Result {
	status := StatusStopped
	switch record.State {
	case StateRunning:
		status = flink.JobRunning
	case StateFinished:
		status = flink.JobFinished
	}
	return Result{Operation: op, State: record.State, JobID: record.JobID, Status: status, DeployedVersionID: record.Version.ID(),
		LastSnapshotName: record.LastSnapshotName, LastSnapshotPath: record.LastSnapshotPath, RecordExists: true,
		HighAvailability: record.HighAvailability}
}

// restartLoop is how many restarts within the readiness timeout make a job stuck.
const restartLoop = 3

// jobManagersRestorePoint is what the JobManager of a stuck job restores once its tasks can
// run again, as the plan names it: its latest completed checkpoint, else what the job started
// from. Without high availability a JobManager that restarted knows only the checkpoints since
// (it started the job again from its deploy-time snapshot), and the plan says so.
func (p *Platform) jobManagersRestorePoint(ctx context.Context, d Desired, current *Current) (path, note string) {
	stats, err := p.Flink(d.Namespace, d.Name).Checkpoints(ctx, current.JobID)
	switch {
	case err != nil:
		return "", "; Flink did not say which: " + err.Error()
	case stats.Latest.Completed != nil && isExternal(stats.Latest.Completed.ExternalPath):
		return stats.Latest.Completed.ExternalPath, " (its latest completed checkpoint)"
	case stats.Latest.Restored != nil && isExternal(stats.Latest.Restored.ExternalPath):
		note = " (what the job started from: it completed no checkpoint since"
		if !current.HighAvailability {
			note += "; without high availability, a JobManager that restarted started the job again from its " +
				"deploy-time snapshot and knows no checkpoint from before"
		}
		return stats.Latest.Restored.ExternalPath, note + ")"
	}
	return "", "; it has none, so the job starts with empty state"
}

// stuck says why a job that has not ended cannot be called running, or "" when it can: its
// tasks have not all run for longer than the application's readiness timeout, or it
// restarted restartLoop times within it. Both are measured on Flink's own clock.
func stuck(ctx context.Context, client *flink.Client, record *records.AppRecord, job flink.JobDetails) string {
	if flink.JobHealthy(job) || job.Now == 0 {
		return ""
	}
	window := record.ReadinessTimeout
	if window <= 0 {
		window = Defaults().Rollback.ReadinessTimeout
	}
	now := time.UnixMilli(job.Now)
	since := time.UnixMilli(job.Timestamps[job.State])
	exceptions, err := client.JobExceptions(ctx, record.JobID)
	restarts := 0
	if err == nil {
		for _, e := range exceptions.History.Entries {
			if now.Sub(time.UnixMilli(e.Timestamp)) <= window {
				restarts++
			}
		}
	}
	var why string
	switch {
	case restarts >= restartLoop:
		why = fmt.Sprintf("it restarted %d times in the last %s", restarts, window)
	case job.Timestamps[job.State] > 0 && now.Sub(since) > window:
		why = fmt.Sprintf("%s for %s%s", job.State, now.Sub(since).Round(time.Second), waitingTasks(job))
	default:
		return ""
	}
	if err == nil && exceptions.RootException != "" {
		why += "; Flink's last failure: " + firstLine(exceptions.RootException)
	}
	return why
}
