package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
	"github.com/flinkplatform/terraform-provider-flink/internal/wait"
)

// rescale: when a new version differs from the running one only in parallelism and
// TaskManager count, and the job runs under Flink's adaptive scheduler, the job is rescaled
// where it runs: the TaskManager Deployment is scaled (the pods carry no parallelism, see
// kube.podRestartHash), the job's resource requirements are set through the REST API, and
// the scheduler restarts it with the new parallelism from its latest checkpoint. No
// savepoint, no new JobManager. A job that does not reach the new parallelism within
// readiness_timeout gets the upgrade_mode's redeploy instead.

// rescalesInPlace reports whether the change from current to d can be a rescale.
func rescalesInPlace(current *Current, d Desired) bool {
	if current == nil || current.State != StateRunning || current.HighAvailability != d.HighAvailability || d.SecretsChanged || d.TriggersChanged || d.VersionPending {
		return false
	}
	a, b := current.Version, d.Version
	if !strings.EqualFold(strings.TrimSpace(a.FlinkConfiguration[flinkconf.KeyScheduler]), "adaptive") {
		return false
	}
	if a.Parallelism == b.Parallelism && flinkconf.TaskManagers(a) == flinkconf.TaskManagers(b) {
		return false
	}
	a.Parallelism, b.Parallelism, a.TaskManager.Replicas, b.TaskManager.Replicas = 0, 0, 0, 0
	return RuntimeHash(a) == RuntimeHash(b)
}

// upgradeOperation is the redeploy upgrade_mode asks for.
func upgradeOperation(mode string) Operation {
	switch mode {
	case UpgradeLastState:
		return OpLastStateRedeploy
	case UpgradeStateless:
		return OpStatelessRedeploy
	}
	return OpSavepointRedeploy
}

func taskManagerWords(from, to spec.Version) string {
	a, b := flinkconf.TaskManagers(from), flinkconf.TaskManagers(to)
	if a == b {
		return fmt.Sprintf("its %d TaskManagers", a)
	}
	return fmt.Sprintf("TaskManagers %d → %d", a, b)
}

func (o *machine) rescale(ctx context.Context, op Operation) error {
	from := o.record.Version
	if err := o.begin(ctx, op, StateRunning); err != nil {
		return err
	}
	o.record.Version, o.record.DeployedVersion, o.record.SpecHash = o.desired.Version, o.desired.Version.Label, RuntimeHash(o.desired.Version)
	if err := o.step(ctx, stepRescaling); err != nil {
		return err
	}
	err := o.rescaleInPlace(ctx)
	if err == nil {
		return o.finish(ctx, StateRunning)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return err // the journal stays: the next apply looks again
	}
	return o.fallBack(ctx, from, err)
}

// fallBack redeploys as upgrade_mode asks after a rescale that failed with cause, from the
// version that ran before: the rollback point of the redeploy.
func (o *machine) fallBack(ctx context.Context, from spec.Version, cause error) error {
	next := upgradeOperation(o.desired.UpgradeMode)
	o.progress(fmt.Sprintf("%s: the in-place rescale did not work (%v); %s instead", o.desired.Name, cause, next))
	o.record.Version, o.record.DeployedVersion, o.record.SpecHash = from, from.Label, RuntimeHash(from)
	return o.run(ctx, next)
}

// resumeRescale continues an interrupted rescale: a job that runs healthy at the new
// parallelism is done; otherwise it is redeployed as upgrade_mode asks.
func (o *machine) resumeRescale(ctx context.Context) error {
	j := o.record.Journal
	if err := o.rescaleInPlace(ctx); err != nil {
		return o.fallBack(ctx, *j.From, err)
	}
	return o.finish(ctx, StateRunning)
}

// rescaleInPlace applies the record's version to the running cluster (its ConfigMap and
// TaskManager count), sets the job's resource requirements to its parallelism, and waits
// within readiness_timeout until every rescaled vertex runs with it.
func (o *machine) rescaleInPlace(ctx context.Context) error {
	r := o.record
	if err := o.applyCluster(ctx, r.Version, r.RestorePath, false); err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, o.desired.Rollback.ReadinessTimeout)
	defer cancel()
	client := o.p.Flink(r.Namespace, r.Application)
	want := int(r.Version.Parallelism)
	req, err := client.ResourceRequirements(readyCtx, r.JobID)
	if err != nil {
		return err
	}
	rescaled := map[string]bool{}
	for id, v := range req {
		// A vertex with its own parallelism (set in the job) keeps it.
		if v.Parallelism.UpperBound == int(o.fromParallelism()) || v.Parallelism.UpperBound == want {
			req[id] = flink.VertexResourceRequirements{Parallelism: flink.Parallelism{LowerBound: 1, UpperBound: want}}
			rescaled[id] = true
		}
	}
	if err := client.SetResourceRequirements(readyCtx, r.JobID, req); err != nil {
		return err
	}
	o.progress(fmt.Sprintf("%s: waiting for job %s to run with parallelism %d", o.desired.Name, shortJobID(r.JobID), want))
	status := flink.StatusJob(client, r.JobID)
	_, err = wait.Conf[flink.JobDetails]{
		Pending: []string{"RESCALING"}, Target: []string{"RESCALED"}, Retryable: flink.IsRetryable,
		Refresh: func(ctx context.Context) (flink.JobDetails, string, error) {
			job, state, err := status(ctx)
			switch {
			case err != nil:
				return job, "", err
			case flink.IsGloballyTerminal(state):
				return job, "", fmt.Errorf("job %s ended %s while rescaling", r.JobID, state)
			case state != flink.JobRunning || !runsWith(job, rescaled, want):
				return job, "RESCALING", nil
			}
			return job, "RESCALED", nil
		},
	}.Wait(readyCtx)
	if err != nil {
		return err
	}
	return o.p.Kube.WaitRolledOut(readyCtx, r.Namespace, r.Application, o.progress)
}

// fromParallelism is the parallelism of the version the rescale started from.
func (o *machine) fromParallelism() int64 {
	if j := o.record.Journal; j != nil && j.From != nil {
		return j.From.Parallelism
	}
	return o.record.Version.Parallelism
}

// runsWith reports whether every rescaled vertex of job runs with parallelism want (a running
// job's tasks all run: StatusJob says RUNNING only then).
func runsWith(job flink.JobDetails, rescaled map[string]bool, want int) bool {
	for _, v := range job.Vertices {
		if rescaled[v.ID] && v.Parallelism != want {
			return false
		}
	}
	return true
}
