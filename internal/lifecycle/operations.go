package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Operation is what an apply will do to a running application. ModifyPlan shows it as
// planned_operation; apply runs exactly the steps registered for it.
type Operation string

const (
	OpNone              Operation = "none"
	OpDeploy            Operation = "deploy"
	OpRescale           Operation = "rescale"
	OpSavepointRedeploy Operation = "savepoint_redeploy"
	OpLastStateRedeploy Operation = "last_state_redeploy"
	OpStatelessRedeploy Operation = "stateless_redeploy"
	OpSuspend           Operation = "suspend"
	OpResume            Operation = "resume"
	OpCancel            Operation = "cancel"
	OpRecover           Operation = "recover"
)

// Desired states of an application.
const (
	StateRunning   = "running"
	StateCancelled = "cancelled"
)

// Desired is what the configuration asks of one application.
type Desired struct {
	Namespace   string
	Name        string
	Version     spec.Version
	State       string
	Labels      map[string]string
	Annotations map[string]string
}

// Current is what is deployed now, as the application record and Flink report it. A nil
// *Current means the application does not exist yet.
type Current struct {
	Version spec.Version
	// State is the state the application is in: StateRunning only while its job is alive.
	State string
	JobID string
}

// transition is one row of the operation table: the prior state, the desired state, whether
// the runtime spec (what Flink sees) changed, and the operation that follows.
type transition struct {
	from, to    string // "" = the application does not exist
	specChanged bool
	op          Operation
}

// operationTable is the single source of truth for "which change needs which operation";
// Classify (used by ModifyPlan) and Apply both read it, so the plan cannot promise something
// apply does not do. Stateless only for now: stateful upgrade modes add rows here.
var operationTable = []transition{
	{from: "", to: StateRunning, specChanged: true, op: OpDeploy},
	{from: "", to: StateCancelled, specChanged: true, op: OpNone},
	{from: StateRunning, to: StateRunning, specChanged: false, op: OpNone},
	{from: StateRunning, to: StateRunning, specChanged: true, op: OpStatelessRedeploy},
	{from: StateRunning, to: StateCancelled, specChanged: false, op: OpCancel},
	{from: StateRunning, to: StateCancelled, specChanged: true, op: OpCancel},
	{from: StateCancelled, to: StateRunning, specChanged: false, op: OpStatelessRedeploy},
	{from: StateCancelled, to: StateRunning, specChanged: true, op: OpStatelessRedeploy},
	{from: StateCancelled, to: StateCancelled, specChanged: false, op: OpNone},
	{from: StateCancelled, to: StateCancelled, specChanged: true, op: OpNone},
}

// Plan is a classified change: the operation and the sentence the plan shows for it.
type Plan struct {
	Operation Operation
	Summary   string
}

// Classify decides the operation for moving from current to desired.
func Classify(current *Current, desired Desired) Plan {
	from, specChanged := "", true
	if current != nil {
		from = current.State
		specChanged = RuntimeHash(current.Version) != RuntimeHash(desired.Version)
	}
	op := lookup(from, desired.State, specChanged)
	return Plan{Operation: op, Summary: describe(op, current, desired)}
}

func lookup(from, to string, specChanged bool) Operation {
	for _, t := range operationTable {
		if t.from == from && t.to == to && t.specChanged == specChanged {
			return t.op
		}
	}
	// Unreachable for validated input; refuse rather than guess.
	panic(fmt.Sprintf("lifecycle: no operation for %q -> %q (spec changed: %v)", from, to, specChanged))
}

func describe(op Operation, current *Current, desired Desired) string {
	name, to := desired.Name, desired.Version.Label
	job := "its job"
	if current != nil && current.JobID != "" {
		job = "job " + shortJobID(current.JobID)
	}
	switch op {
	case OpDeploy:
		return fmt.Sprintf("%s: deploy version %s (Flink %s, parallelism %d) with empty state",
			name, to, desired.Version.FlinkVersion, desired.Version.Parallelism)
	case OpStatelessRedeploy:
		if current.State == StateCancelled {
			return fmt.Sprintf("%s: the job is not running; start version %s again with empty state", name, to)
		}
		return fmt.Sprintf("%s: cancel %s (version %s) and start version %s with empty state (upgrade_mode stateless: state is discarded)",
			name, job, current.Version.Label, to)
	case OpCancel:
		return fmt.Sprintf("%s: cancel %s and scale the cluster to zero; state is not kept", name, job)
	case OpNone:
		if current != nil && current.Version.Label != to {
			return fmt.Sprintf("%s: version %s runs the same artifact and configuration as %s; only records change, the job keeps running",
				name, to, current.Version.Label)
		}
		return fmt.Sprintf("%s: no change Flink sees; only records and labels are updated", name)
	}
	return fmt.Sprintf("%s: %s", name, op)
}

func shortJobID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// RuntimeHash hashes what Flink and Kubernetes see of a version: everything but its name,
// description and lineage. Two versions with the same hash need no redeploy between them.
func RuntimeHash(v spec.Version) string {
	v.Label, v.Description, v.ParentVersionID = "", "", ""
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

// PlanChange classifies a change at plan time. When the version's record does not exist yet
// (it is created in the same apply) desired.Version holds only its label, so its spec counts
// as changed.
func (p *Platform) PlanChange(ctx context.Context, desired Desired) (Plan, error) {
	observed, err := p.Observe(ctx, desired.Namespace, desired.Name)
	if err != nil {
		return Plan{}, err
	}
	var current *Current
	if observed != nil {
		current = &observed.Current
	}
	return Classify(current, desired), nil
}
