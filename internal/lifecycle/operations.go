package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Operation is what an apply will do to a running application. ModifyPlan shows it as
// planned_operation; apply runs exactly the steps registered for it.
type Operation string

const (
	OpNone              Operation = "none"
	OpDeploy            Operation = "deploy"
	OpSavepointRedeploy Operation = "savepoint_redeploy"
	OpLastStateRedeploy Operation = "last_state_redeploy"
	OpStatelessRedeploy Operation = "stateless_redeploy"
	OpSuspend           Operation = "suspend"
	OpResume            Operation = "resume"
	OpCancel            Operation = "cancel"
	OpRecover           Operation = "recover"
	// OpRescale changes the running job's parallelism (and TaskManager count) in place through
	// Flink's adaptive scheduler: no savepoint, no new pods but TaskManagers added or removed.
	// If the new parallelism is not reached in time it falls back to the upgrade_mode's
	// redeploy.
	OpRescale Operation = "rescale"
	// OpReprocess stops the running job with a savepoint and starts the desired version from
	// the snapshot restore.snapshot_id newly names: the job processes again from that state.
	OpReprocess Operation = "reprocess"
	// OpRestartTaskManagers replaces the TaskManager pods of a stuck job; its JobManager
	// restores the job from its latest completed checkpoint, so no state is lost.
	OpRestartTaskManagers Operation = "restart_task_managers"
)

// Operations only the journal names: a destroy's final savepoint, and a flink_snapshot's
// savepoint of the running job.
const (
	opDestroy  Operation = "destroy"
	opSnapshot Operation = "snapshot"
)

// steps are how the step machine carries out an operation (run) and continues it from its
// journal after an interrupted apply (resume; nil resumes as the operations that stop the
// job keeping its state do, recoverFromSavepoint). Each operation's steps live in a file of
// their own (steps_*.go).
type steps struct {
	run    func(o *machine, ctx context.Context, op Operation) error
	resume func(o *machine, ctx context.Context) error
	// recordsSnapshot: the operation takes or records a snapshot of the application, so the
	// plan cannot know the last snapshot.
	recordsSnapshot bool
}

// operationSteps is the step machine's table. It is filled in init because the steps call
// back into the machine, which reads it (a package-level initializer would be a cycle).
var operationSteps map[Operation]steps

func init() {
	operationSteps = map[Operation]steps{
		OpNone:                {run: (*machine).keepDeployed},
		OpDeploy:              {run: (*machine).startJob, resume: (*machine).recoverWithoutSavepoint},
		OpResume:              {run: (*machine).startJob, resume: (*machine).recoverWithoutSavepoint},
		OpStatelessRedeploy:   {run: (*machine).cancelJobThen, resume: (*machine).recoverWithoutSavepoint},
		OpCancel:              {run: (*machine).cancelJobThen, resume: (*machine).recoverWithoutSavepoint},
		OpSavepointRedeploy:   {run: (*machine).redeployWithState, recordsSnapshot: true},
		OpLastStateRedeploy:   {run: (*machine).redeployWithState, recordsSnapshot: true},
		OpReprocess:           {run: (*machine).reprocess, recordsSnapshot: true},
		OpRescale:             {run: (*machine).rescale, resume: (*machine).resumeRescale, recordsSnapshot: true},
		OpSuspend:             {run: (*machine).suspend, recordsSnapshot: true},
		OpRestartTaskManagers: {run: (*machine).restartStuckTaskManagers, resume: (*machine).resumeRestartTaskManagers},
		OpRecover:             {run: (*machine).recover, recordsSnapshot: true},
		opSnapshot:            {resume: (*machine).resumeSnapshot},
		opDestroy:             {},
	}
}

// Application states.
const (
	StateRunning   = "running"
	StateSuspended = "suspended"
	StateCancelled = "cancelled"
	// StateRecovering is only ever read back: an apply was interrupted mid-operation.
	StateRecovering = "recovering"
	// StateStuck is only ever read back: the job has not had all its tasks running for
	// longer than its readiness timeout, or keeps restarting.
	StateStuck = "stuck"
	// StateFinished is only ever read back: the job of a bounded version finished. For such
	// a job, "running" asks for a run to completion, which it had.
	StateFinished = "finished"
)

// Upgrade modes: how a running job moves to a new spec.
const (
	UpgradeSavepoint = "savepoint"
	UpgradeLastState = "last_state"
	UpgradeStateless = "stateless"
)

// Restore strategies: where a job starts from when none is running.
const (
	RestoreLatestSnapshot = "latest_snapshot"
	RestoreLatestState    = "latest_state"
	RestoreSnapshot       = "snapshot"
	RestoreNone           = "none"
)

// On-destroy behaviours.
const (
	DestroySavepoint = "savepoint"
	DestroyDrain     = "drain"
	DestroyCancel    = "cancel"
)

// Desired is what the configuration asks of one application.
type Desired struct {
	Namespace   string
	Name        string
	Version     spec.Version
	State       string
	Labels      map[string]string
	Annotations map[string]string
	UpgradeMode string
	Restore     Restore
	Savepoint   SavepointOptions
	Rollback    RollbackOptions
	Retention   Retention
	// HighAvailability runs the cluster with Kubernetes HA: a restarted JobManager recovers
	// the job from its latest completed checkpoint instead of its deploy-time snapshot.
	HighAvailability bool
	// VersionPending is set at plan time when the version's record does not exist yet (it is
	// created in the same apply): Version then holds only its label.
	VersionPending bool
	// WaitForCompletion: for a bounded version, apply waits until the job finished (within
	// the apply's timeout) and then scales its cluster to zero; otherwise it returns once the
	// job runs.
	WaitForCompletion bool
	// TriggersChanged is set when the configuration's triggers changed: it counts as a spec
	// change (the job is redeployed per upgrade_mode, or a finished one runs again).
	TriggersChanged bool
	// Secrets are the application's sensitive settings. They are written (to a new Secret)
	// only when SecretsChanged: the resource knows they changed by comparing plan and state,
	// which Terraform keeps sensitive, or by a changed *_wo_version; no record keeps them, or
	// a hash of them. SecretsChanged counts as a spec change, so a running job is upgraded
	// as for a new version.
	Secrets        spec.SecretValues
	SecretsChanged bool
}

// Restore says where a job starts when no job of the application is running.
type Restore struct {
	Strategy              string
	SnapshotName          string // with RestoreSnapshot
	AllowNonRestoredState bool
	// SnapshotPending is set at plan time when the snapshot is created in the same apply
	// (its id is not known yet): it is looked up at apply time instead.
	SnapshotPending bool
}

// SavepointOptions shape every savepoint the lifecycle takes.
type SavepointOptions struct {
	Directory string // Flink-side target directory; "" = Flink's configured default
	Format    string // "canonical" | "native"
	Drain     bool
	Timeout   time.Duration
}

// RollbackOptions decide when a new deployment counts as healthy and what happens if not.
type RollbackOptions struct {
	Enabled           bool
	ReadinessTimeout  time.Duration
	RequireCheckpoint bool
}

// Retention bounds the automatic snapshots kept per application.
type Retention struct {
	MaxCount int
	MaxAge   time.Duration
}

// DefaultOnDestroy is what destroy does to a job unless told otherwise.
const DefaultOnDestroy = DestroySavepoint

// Defaults is what an application gets for every setting its configuration leaves out: the
// one source of the defaults, for callers building a Desired (the resource's schema and
// import) and for withDefaults.
func Defaults() Desired {
	return Desired{
		State:             StateRunning,
		UpgradeMode:       UpgradeSavepoint,
		Restore:           Restore{Strategy: RestoreLatestState},
		Savepoint:         SavepointOptions{Format: records.FormatCanonical, Timeout: 10 * time.Minute},
		Rollback:          RollbackOptions{Enabled: true, ReadinessTimeout: 5 * time.Minute},
		Retention:         Retention{MaxCount: 5},
		HighAvailability:  true,
		WaitForCompletion: true,
	}
}

// withDefaults fills what a Desired built by a caller may leave unset: the settings whose
// zero value is no valid choice. (Settings where it is, like Rollback.Enabled, a caller takes
// from Defaults.)
func (d Desired) withDefaults() Desired {
	def := Defaults()
	if d.UpgradeMode == "" {
		d.UpgradeMode = def.UpgradeMode
	}
	if d.Restore.Strategy == "" {
		d.Restore.Strategy = def.Restore.Strategy
	}
	if d.Savepoint.Format == "" {
		d.Savepoint.Format = def.Savepoint.Format
	}
	if d.Savepoint.Timeout == 0 {
		d.Savepoint.Timeout = def.Savepoint.Timeout
	}
	if d.Rollback.ReadinessTimeout == 0 {
		d.Rollback.ReadinessTimeout = def.Rollback.ReadinessTimeout
	}
	return d
}

// Current is what is deployed now, as the application record and Flink report it. A nil
// *Current means the application does not exist yet.
type Current struct {
	Version spec.Version
	// State is StateRunning only while its job is alive: a job that ended outside Terraform
	// reads as StateCancelled.
	State string
	JobID string
	// Journal is the interrupted operation, if an earlier apply died mid-way.
	Journal          *records.Journal
	LastSnapshotPath string
	LastSnapshotName string
	// Problem says why a StateStuck job is stuck: Flink's newest root exception.
	Problem string
	// HighAvailability is whether the cluster runs with Kubernetes HA (for a cluster that is
	// not running: whether it resumes with it).
	HighAvailability bool
	// Secret is the provider-owned Secret the deployed version runs with (names only).
	Secret *spec.OwnedSecret
	// RestoredSnapshot is the chosen snapshot (restore.snapshot_id) the application last
	// started from.
	RestoredSnapshot string
}

// transition is one row of the operation table. Empty from/to match "does not exist"; a nil
// specChanged or empty mode matches anything; a row with newSnapshot matches only when the
// configuration names a snapshot to restore that the application has not started from, one
// with inPlace only when the job can be rescaled in place (rescalesInPlace).
type transition struct {
	from, to    string
	specChanged *bool
	mode        string
	newSnapshot bool
	inPlace     bool
	op          Operation
}

// change is what Classify looks up in the operation table.
type change struct {
	from, to                          string
	specChanged, newSnapshot, inPlace bool
	mode                              string
}

func (t transition) matches(c change) bool {
	return t.from == c.from && t.to == c.to && (t.specChanged == nil || *t.specChanged == c.specChanged) &&
		(t.mode == "" || t.mode == c.mode) && (!t.newSnapshot || c.newSnapshot) && (!t.inPlace || c.inPlace)
}

var no = false

// operationTable is the single source of truth for "which change needs which operation";
// Classify (used by ModifyPlan) and Apply both read it, so the plan cannot promise something
// apply does not do. The first matching row wins.
var operationTable = []transition{
	{from: "", to: StateRunning, op: OpDeploy},
	{from: "", to: StateSuspended, op: OpNone},
	{from: "", to: StateCancelled, op: OpNone},
	// A newly chosen snapshot reprocesses, whether the version changes too or not.
	{from: StateRunning, to: StateRunning, newSnapshot: true, op: OpReprocess},
	{from: StateRunning, to: StateRunning, specChanged: &no, op: OpNone},
	{from: StateRunning, to: StateRunning, inPlace: true, op: OpRescale},
	// A stuck job changes like a running one, except that with nothing else to do its
	// TaskManagers are replaced (see Classify).
	{from: StateStuck, to: StateRunning, specChanged: &no, op: OpRestartTaskManagers},
	{from: StateRunning, to: StateRunning, mode: UpgradeSavepoint, op: OpSavepointRedeploy},
	{from: StateRunning, to: StateRunning, mode: UpgradeLastState, op: OpLastStateRedeploy},
	{from: StateRunning, to: StateRunning, mode: UpgradeStateless, op: OpStatelessRedeploy},
	{from: StateRunning, to: StateSuspended, op: OpSuspend},
	{from: StateRunning, to: StateCancelled, op: OpCancel},
	{from: StateSuspended, to: StateRunning, op: OpResume},
	{from: StateSuspended, to: StateSuspended, op: OpNone},
	{from: StateSuspended, to: StateCancelled, op: OpNone},
	{from: StateCancelled, to: StateRunning, op: OpDeploy},
	{from: StateCancelled, to: StateSuspended, op: OpNone},
	{from: StateCancelled, to: StateCancelled, op: OpNone},
	// A finished bounded job: nothing to do until something changes, then it runs again.
	{from: StateFinished, to: StateRunning, newSnapshot: true, op: OpDeploy},
	{from: StateFinished, to: StateRunning, specChanged: &no, op: OpNone},
	{from: StateFinished, to: StateRunning, op: OpDeploy},
	{from: StateFinished, to: StateSuspended, op: OpNone},
	{from: StateFinished, to: StateCancelled, op: OpNone},
}

// Plan is a classified change: the operation, the sentence the plan shows for it, and the
// snapshot a job will start from.
type Plan struct {
	Operation Operation
	Summary   string
	// RestorePath is the savepoint or checkpoint the new job starts from, when known at
	// plan time ("" = empty state, or taken during apply).
	RestorePath string
	// RestoreNote says why RestorePath, when that is not simply the newest snapshot.
	RestoreNote string
	// RecordsSnapshot is true when apply records a new snapshot of the application (its last
	// snapshot changes).
	RecordsSnapshot bool
	// RestoreCheck compares the state the new job restores with its version's operators (nil
	// when it restores none).
	RestoreCheck *RestoreCheck
}

// Classify decides the operation for moving from current to desired.
func Classify(current *Current, desired Desired) Plan {
	desired = desired.withDefaults()
	if current != nil && current.Journal != nil {
		return Plan{Operation: OpRecover}
	}
	from, specChanged := "", true
	if current != nil {
		from = current.State
		// Turning HA on or off, or changing a secret, changes what runs like a new version does.
		specChanged = RuntimeHash(current.Version) != RuntimeHash(desired.Version) ||
			current.HighAvailability != desired.HighAvailability || desired.SecretsChanged || desired.TriggersChanged
	}
	if from == StateStuck && (specChanged || desired.State != StateRunning) {
		from = StateRunning
	}
	return Plan{Operation: lookup(change{from: from, to: desired.State, specChanged: specChanged, mode: desired.UpgradeMode,
		newSnapshot: choosesNewSnapshot(current, desired), inPlace: rescalesInPlace(current, desired)})}
}

// choosesNewSnapshot reports whether the configuration names a snapshot to restore that the
// application has not started from yet (one created in the same apply is always new).
func choosesNewSnapshot(current *Current, d Desired) bool {
	if d.Restore.Strategy != RestoreSnapshot {
		return false
	}
	return d.Restore.SnapshotPending || (d.Restore.SnapshotName != "" && (current == nil || current.RestoredSnapshot != d.Restore.SnapshotName))
}

func lookup(c change) Operation {
	for _, t := range operationTable {
		if t.matches(c) {
			return t.op
		}
	}
	// Unreachable for validated input; refuse rather than guess.
	panic(fmt.Sprintf("lifecycle: no operation for %q -> %q (%+v)", c.from, c.to, c))
}

// describe says in words what apply will do.
func describe(plan Plan, current *Current, desired Desired) string {
	name, to := desired.Name, desired.Version.Label
	job := jobWords(current)
	from := ""
	if current != nil {
		from = current.Version.Label
	}
	start := startWords(plan, current, desired)
	switch plan.Operation {
	case OpDeploy:
		return fmt.Sprintf("%s: start version %s (Flink %s, parallelism %d) %s",
			name, to, desired.Version.FlinkVersion, desired.Version.Parallelism, start)
	case OpSavepointRedeploy:
		return fmt.Sprintf("%s: stop %s (version %s) with a savepoint, then start version %s%s from it%s%s",
			name, job, from, to, secretWords(desired), haWords(current, desired), rollbackWords(desired))
	case OpLastStateRedeploy:
		return fmt.Sprintf("%s: cancel %s (version %s) keeping its latest checkpoint, then start version %s%s from it%s%s",
			name, job, from, to, secretWords(desired), haWords(current, desired), rollbackWords(desired))
	case OpRescale:
		return fmt.Sprintf("%s: change the parallelism of %s from %d to %d in place (version %s; Flink's adaptive scheduler "+
			"restarts it from its latest checkpoint, no savepoint) with %s; if parallelism %d is not reached within %s, "+
			"fall back to %s", name, job, current.Version.Parallelism, desired.Version.Parallelism, to,
			taskManagerWords(current.Version, desired.Version), desired.Version.Parallelism, desired.Rollback.ReadinessTimeout,
			upgradeOperation(desired.UpgradeMode))
	case OpReprocess:
		chosen := "the snapshot created in this apply"
		if !desired.Restore.SnapshotPending {
			chosen = fmt.Sprintf("snapshot %s (%s)", desired.Restore.SnapshotName, plan.RestorePath)
		}
		return fmt.Sprintf("%s: stop %s (version %s) with a savepoint (kept, the rollback point), then start version %s%s from %s: "+
			"restore.snapshot_id names a snapshot the application has not started from, so the job processes again from that state%s",
			name, job, from, to, secretWords(desired), chosen, reprocessRollbackWords(desired, from))
	case OpStatelessRedeploy:
		return fmt.Sprintf("%s: cancel %s (version %s) and start version %s%s with empty state%s (upgrade_mode stateless: state is discarded)",
			name, job, from, to, secretWords(desired), haWords(current, desired))
	case OpSuspend:
		return fmt.Sprintf("%s: stop %s with a savepoint and scale the cluster to zero", name, job)
	case OpResume:
		return fmt.Sprintf("%s: resume version %s %s", name, to, start)
	case OpCancel:
		return fmt.Sprintf("%s: cancel %s and scale the cluster to zero; its state is not kept", name, job)
	case OpRestartTaskManagers:
		start = "from its latest completed checkpoint" + plan.RestoreNote
		if plan.RestorePath != "" {
			start = "from " + plan.RestorePath + plan.RestoreNote
		}
		return fmt.Sprintf("%s: %s is stuck (%s); replace its TaskManager pods, after which its JobManager restores it "+
			"%s, and wait up to %s for all its tasks to run",
			name, job, current.Problem, start, desired.Rollback.ReadinessTimeout)
	case OpRecover:
		return describeRecover(current, desired)
	case OpNone:
		if current != nil && current.State == StateFinished {
			return fmt.Sprintf("%s: the job of bounded version %s finished; nothing runs until the version or triggers change "+
				"(a cluster still up is scaled to zero)", name, from)
		}
		if current != nil && from != to && current.State == StateRunning {
			return fmt.Sprintf("%s: version %s runs the same artifact and configuration as %s; only records change, the job keeps running",
				name, to, from)
		}
		if desired.SecretsChanged && current != nil {
			return fmt.Sprintf("%s: no job runs; the new secret settings are stored for its next start", name)
		}
		return fmt.Sprintf("%s: no change Flink sees; only records and labels are updated (running pods keep theirs until the next job starts: nothing restarts)", name)
	}
	return fmt.Sprintf("%s: %s", name, plan.Operation)
}

// describeRecover says how an interrupted operation will be finished.
func describeRecover(current *Current, desired Desired) string {
	name, to, job := desired.Name, desired.Version.Label, jobWords(current)
	j := current.Journal
	if Operation(j.Operation) == opSnapshot {
		return fmt.Sprintf("%s: a flink_snapshot's savepoint of %s (trigger %s) was interrupted; record it if Flink completed it, "+
			"then bring version %s to %s", name, job, j.TriggerID, to, desired.State)
	}
	taken := "no savepoint was recorded yet; finish taking it"
	if j.SavepointPath != "" {
		taken = "its savepoint " + j.SavepointPath + " is recorded"
	}
	if j.RestoreSnapshot != "" {
		taken += fmt.Sprintf(" (the reprocess starts from snapshot %s while the configuration names it, else from that savepoint)", j.RestoreSnapshot)
	}
	return fmt.Sprintf("%s: an interrupted %s (%s -> %s) stopped at step %q; %s, then bring version %s to %s from it. "+
		"A job the interrupted apply already started is kept if it runs healthy, since it holds newer state (and is "+
		"stopped with a savepoint of its own if it is to stop)",
		name, j.Operation, j.FromVersion, j.ToVersion, j.Step, taken, to, desired.State)
}

// jobWords names the running job, when there is one.
func jobWords(current *Current) string {
	if current != nil && current.JobID != "" {
		return "job " + shortJobID(current.JobID)
	}
	return "its job"
}

// startWords says what a new job starts from.
func startWords(plan Plan, current *Current, desired Desired) string {
	switch {
	case plan.RestorePath != "":
		return "from " + plan.RestorePath + plan.RestoreNote
	case desired.Restore.SnapshotPending:
		return "from the snapshot created in this apply"
	case current != nil && current.State == StateFinished:
		return "with empty state: its previous run finished, and a bounded job runs again from the start"
	}
	return "with empty state"
}

// secretWords marks a start whose secret settings changed: the only change a plan cannot
// show, since their values are sensitive.
func secretWords(d Desired) string {
	if !d.SecretsChanged {
		return ""
	}
	return " with the changed secret settings"
}

func rollbackWords(d Desired) string {
	if !d.Rollback.Enabled {
		return ""
	}
	return fmt.Sprintf("; if it is not healthy within %s, roll back to the previous version from the same snapshot", d.Rollback.ReadinessTimeout)
}

func reprocessRollbackWords(d Desired, from string) string {
	if !d.Rollback.Enabled {
		return ""
	}
	return fmt.Sprintf("; if it is not healthy within %s, roll back to version %s from that savepoint", d.Rollback.ReadinessTimeout, from)
}

func shortJobID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// RuntimeHash hashes what Flink and Kubernetes see of a version: everything but its name,
// description, lineage and declarations (stateful operators, bounded). Two versions with the
// same hash need no redeploy between them.
func RuntimeHash(v spec.Version) string {
	v.Label, v.Description, v.ParentVersionID, v.StatefulOperatorUIDs, v.Bounded = "", "", "", nil, false
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// JobIDFor derives the fixed job id of one deployment of an application. Deterministic so
// that a retried step after a crash addresses the same job.
func JobIDFor(namespace, name string, generation int64) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", namespace, name, generation)))
	return hex.EncodeToString(sum[:16])
}

// ParseApplicationID splits "namespace/name".
func ParseApplicationID(id string) (namespace, name string, err error) {
	parts := strings.Split(id, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("%q is not an application id; expected namespace/name", id)
	}
	return parts[0], parts[1], nil
}

// PlanChange classifies a change at plan time and words it. When the version's record does
// not exist yet (it is created in the same apply) desired.Version holds only its label, so
// its spec counts as changed.
func (p *Platform) PlanChange(ctx context.Context, desired Desired) (Plan, error) {
	desired = desired.withDefaults()
	observed, err := p.Observe(ctx, desired.Namespace, desired.Name)
	if err != nil {
		return Plan{}, err
	}
	var current *Current
	if observed != nil {
		current = &observed.Current
	}
	plan := Classify(current, desired)
	if err := p.checkPlan(ctx, plan, current, desired); err != nil {
		return plan, err
	}
	var snap records.SnapshotRecord
	if restoresChosenOrLatest(plan.Operation) && !desired.Restore.SnapshotPending {
		if snap, err = p.restoreSource(ctx, current, desired); err != nil {
			return plan, err
		}
		plan.RestorePath = snap.Path
		switch {
		case snap.Origin == records.OriginCheckpoint && snap.Name == "":
			plan.RestoreNote = fmt.Sprintf(" (the latest checkpoint of job %s, which ran after the newest snapshot)", shortJobID(snap.JobID))
			plan.RecordsSnapshot = true // the checkpoint goes on record before it is restored
		case desired.Restore.Strategy == RestoreSnapshot && snap.Name != desired.Restore.SnapshotName:
			plan.RestoreNote = fmt.Sprintf(" (the application's newest state: it started from snapshot %s before)", desired.Restore.SnapshotName)
		}
	}
	if plan.Operation == OpRestartTaskManagers {
		plan.RestorePath, plan.RestoreNote = p.jobManagersRestorePoint(ctx, desired, current)
	}
	plan.RecordsSnapshot = plan.RecordsSnapshot || operationSteps[plan.Operation].recordsSnapshot
	if plan.RestoreCheck, err = p.restoreCheckOf(ctx, plan.Operation, snap, current, desired); err != nil {
		return plan, err
	}
	plan.Summary = describe(plan, current, desired)
	if plan.RestoreCheck != nil {
		plan.Summary += ". " + plan.RestoreCheck.words()
	}
	return plan, nil
}
