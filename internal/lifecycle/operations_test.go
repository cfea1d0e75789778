package lifecycle

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/records"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

const runningJobID = "41619a05a6f6174dad84f0385f8bea2a"

func TestClassify(t *testing.T) {
	t.Parallel()
	v1 := testVersion("v1")
	v2Same := testVersion("v2") // same runtime spec as v1, other label and description
	v2Same.ParentVersionID = v1.ID()
	v2 := testVersion("v2")
	v2.Image = "registry.example.com/fraud:1.5.0"

	running := &Current{Version: v1, State: StateRunning, JobID: runningJobID}
	cancelled := &Current{Version: v1, State: StateCancelled, JobID: runningJobID}

	cases := []struct {
		name    string
		current *Current
		desired Desired
		want    Operation
		// summary must contain all of these and none of notIn
		summary []string
		notIn   []string
	}{
		{
			name: "new application running", current: nil, desired: desiredFor(v1, StateRunning),
			want:    OpDeploy,
			summary: []string{"fraud: ", "start version v1", "Flink 1.20", "parallelism 2", "with empty state"},
		},
		{
			name: "new application created cancelled", current: nil, desired: desiredFor(v1, StateCancelled),
			want:    OpNone,
			summary: []string{"fraud: ", "no change Flink sees"},
		},
		{
			name: "running, same version", current: running, desired: desiredFor(v1, StateRunning),
			want:    OpNone,
			summary: []string{"fraud: ", "no change Flink sees", "only records and labels"},
		},
		{
			name: "running, new version with identical runtime spec", current: running, desired: desiredFor(v2Same, StateRunning),
			want:    OpNone,
			summary: []string{"fraud: ", "version v2 runs the same artifact and configuration as v1", "job keeps running"},
		},
		{
			name: "running, new version with another image", current: running, desired: desiredFor(v2, StateRunning),
			want:    OpStatelessRedeploy,
			summary: []string{"fraud: ", "cancel job 41619a05…", "(version v1)", "start version v2", "empty state", "stateless", "state is discarded"},
			notIn:   []string{runningJobID}, // only the prefix
		},
		{
			name: "running to cancelled", current: running, desired: desiredFor(v1, StateCancelled),
			want:    OpCancel,
			summary: []string{"fraud: ", "cancel job 41619a05…", "scale the cluster to zero", "state is not kept"},
		},
		{
			name: "running to cancelled with a new version", current: running, desired: desiredFor(v2, StateCancelled),
			want:    OpCancel,
			summary: []string{"fraud: ", "cancel job 41619a05…", "scale the cluster to zero"},
		},
		{
			name: "cancelled job restarted, same version", current: cancelled, desired: desiredFor(v1, StateRunning),
			want:    OpDeploy,
			summary: []string{"fraud: ", "start version v1", "with empty state"},
		},
		{
			name: "cancelled job restarted with a new version", current: cancelled, desired: desiredFor(v2, StateRunning),
			want:    OpDeploy,
			summary: []string{"fraud: ", "start version v2", "with empty state"},
		},
		{
			name: "cancelled stays cancelled", current: cancelled, desired: desiredFor(v1, StateCancelled),
			want:    OpNone,
			summary: []string{"fraud: ", "no change Flink sees"},
		},
		{
			name: "cancelled stays cancelled, new version", current: cancelled, desired: desiredFor(v2, StateCancelled),
			want:    OpNone,
			summary: []string{"fraud: "},
			notIn:   []string{"job keeps running"}, // no job runs
		},
		{
			name:    "running without a known job id",
			current: &Current{Version: v1, State: StateRunning}, desired: desiredFor(v2, StateRunning),
			want:    OpStatelessRedeploy,
			summary: []string{"cancel its job (version v1)", "start version v2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := classify(tc.current, tc.desired)
			if got.Operation != tc.want {
				t.Fatalf("Classify = %s (%q), want %s", got.Operation, got.Summary, tc.want)
			}
			wantContains(t, "summary", got.Summary, tc.summary...)
			for _, s := range tc.notIn {
				if strings.Contains(got.Summary, s) {
					t.Errorf("summary %q contains %q", got.Summary, s)
				}
			}
		})
	}
}

// expectedOperation is docs/design.md §4 written out independently of operationTable:
// what each (current state, desired state, runtime spec changed, upgrade mode) must do.
func expectedOperation(from, to string, changed bool, mode string, newSnapshot, adaptive bool) Operation {
	switch {
	case from == StateStuck && to == StateRunning && !changed:
		return OpRestartTaskManagers
	case from == StateStuck: // otherwise a stuck job changes like a running one, but never in place
		return expectedOperation(StateRunning, to, changed, mode, newSnapshot, false)
	case from == StateRunning && to == StateRunning && newSnapshot:
		return OpReprocess // whether or not the version changes too
	case from == StateRunning && to == StateRunning && changed && adaptive:
		return OpRescale // the change is the parallelism only
	case from == StateFinished && to == StateRunning && (changed || newSnapshot):
		return OpDeploy // a bounded job runs again
	case from == StateFinished:
		return OpNone
	case from == "" && to == StateRunning:
		return OpDeploy
	case from == "":
		return OpNone // created suspended or cancelled: records only
	case from == StateRunning && to == StateRunning && !changed:
		return OpNone
	case from == StateRunning && to == StateRunning:
		return map[string]Operation{
			UpgradeSavepoint: OpSavepointRedeploy, UpgradeLastState: OpLastStateRedeploy, UpgradeStateless: OpStatelessRedeploy,
		}[mode]
	case from == StateRunning && to == StateSuspended:
		return OpSuspend
	case from == StateRunning && to == StateCancelled:
		return OpCancel
	case from == StateSuspended && to == StateRunning:
		return OpResume
	case from == StateCancelled && to == StateRunning:
		return OpDeploy
	default: // between suspended and cancelled nothing runs: records only
		return OpNone
	}
}

// adaptive is v running under Flink's adaptive scheduler.
func adaptive(v spec.Version) spec.Version {
	v.FlinkConfiguration = maps.Clone(v.FlinkConfiguration)
	v.FlinkConfiguration[flinkconf.KeyScheduler] = "adaptive"
	return v
}

// TestClassifyCoversOperationTable drives Classify through every combination of states,
// spec change, upgrade mode and a newly chosen snapshot to restore, compares it with expectedOperation, and checks that every
// row of operationTable is reached (a row shadowed by an earlier one is a mistake).
func TestClassifyCoversOperationTable(t *testing.T) {
	t.Parallel()
	v1 := testVersion("v1")
	changed := testVersion("v1")
	changed.Parallelism = 4
	reached := make([]bool, len(operationTable))
	for _, from := range []string{"", StateRunning, StateStuck, StateSuspended, StateCancelled, StateFinished} {
		for _, to := range []string{StateRunning, StateSuspended, StateCancelled} {
			for _, specChanged := range []bool{false, true} {
				if from == "" && !specChanged {
					continue // a new application always counts as changed
				}
				for _, mode := range []string{UpgradeSavepoint, UpgradeLastState, UpgradeStateless} {
					for _, c := range []struct{ newSnapshot, adaptive bool }{{false, false}, {true, false}, {false, true}} {
						newSnapshot := c.newSnapshot
						v1, changed := v1, changed
						if c.adaptive { // the change is then a rescale
							v1, changed = adaptive(v1), adaptive(changed)
						}
						var current *Current
						desired := desiredFor(v1, to)
						desired.UpgradeMode = mode
						desired.Restore = Restore{Strategy: RestoreSnapshot, SnapshotName: "fraud-snap-1"}
						if from != "" {
							current = &Current{Version: v1, State: from, JobID: runningJobID, RestoredSnapshot: "fraud-snap-1"}
							if specChanged {
								desired.Version = changed
							}
						}
						if newSnapshot {
							desired.Restore.SnapshotName = "fraud-snap-2"
						} else if current == nil {
							continue // for a new application every chosen snapshot is new
						}
						got := classify(current, desired)
						want := expectedOperation(from, to, specChanged, mode, newSnapshot, c.adaptive)
						if got.Operation != want {
							t.Errorf("%q -> %q, spec changed %v, mode %s, %+v: Classify = %s, want %s",
								from, to, specChanged, mode, c, got.Operation, want)
						}
						if !strings.HasPrefix(got.Summary, "fraud: ") || len(got.Summary) < len("fraud: ")+10 {
							t.Errorf("%q -> %q: summary %q does not describe the change", from, to, got.Summary)
						}
						for i, row := range operationTable {
							if row.matches(change{from: from, to: to, specChanged: specChanged, mode: mode,
								newSnapshot: newSnapshot, inPlace: c.adaptive && specChanged && from == StateRunning}) {
								reached[i] = true
								break
							}
						}
					}
				}
			}
		}
	}
	for i, ok := range reached {
		if !ok {
			row := operationTable[i]
			t.Errorf("operationTable row %d (%q -> %q => %s) is never reached", i, row.from, row.to, row.op)
		}
	}
}

func TestClassifyInterruptedOperationIsRecover(t *testing.T) {
	t.Parallel()
	cur := &Current{Version: testVersion("v1"), State: StateRunning, JobID: runningJobID,
		Journal: &records.Journal{Operation: string(OpSavepointRedeploy), FromVersion: "v1", ToVersion: "v2", Step: "deploying",
			SavepointPath: "s3://bucket/payments/fraud/savepoint-1"}}
	got := classify(cur, desiredFor(testVersion("v2"), StateRunning))
	if got.Operation != OpRecover {
		t.Fatalf("Classify with a journal = %s, want recover", got.Operation)
	}
	wantContains(t, "recover summary", got.Summary, "interrupted savepoint_redeploy", "v1 -> v2", `"deploying"`,
		"s3://bucket/payments/fraud/savepoint-1")
}

func TestClassifyRefusesUnknownState(t *testing.T) {
	t.Parallel()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), `"paused"`) {
			t.Errorf("Classify of an unknown desired state: recovered %v, want a panic naming the state", r)
		}
	}()
	Classify(nil, desiredFor(testVersion("v1"), "paused"))
}

func TestRuntimeHash(t *testing.T) {
	t.Parallel()
	base := testVersion("v1")
	h0 := RuntimeHash(base)
	if len(h0) != 16 || !isHex(h0) {
		t.Fatalf("RuntimeHash = %q, want 16 hex digits", h0)
	}
	if RuntimeHash(testVersion("v1")) != h0 {
		t.Fatalf("RuntimeHash is not deterministic")
	}

	ignored := map[string]func(*spec.Version){
		"label":          func(v *spec.Version) { v.Label = "v9" },
		"description":    func(v *spec.Version) { v.Description = "something else entirely" },
		"parent version": func(v *spec.Version) { v.ParentVersionID = "payments/fraud/v0" },
		"all three": func(v *spec.Version) {
			v.Label, v.Description, v.ParentVersionID = "v2", "", "payments/fraud/v1"
		},
		// A record round trip may turn an empty map or slice into nil: not a change.
		"empty map vs nil": func(v *spec.Version) { v.Env = map[string]string{} },
		"same config, built in another order": func(v *spec.Version) {
			v.FlinkConfiguration = map[string]string{}
			for _, k := range []string{"pipeline.name"} {
				v.FlinkConfiguration[k] = base.FlinkConfiguration[k]
			}
		},
	}
	for name, mutate := range ignored {
		t.Run("ignores "+name, func(t *testing.T) {
			v := testVersion("v1")
			mutate(&v)
			if got := RuntimeHash(v); got != h0 {
				t.Errorf("RuntimeHash changed (%s -> %s) although Flink sees no difference", h0, got)
			}
		})
	}

	seen := map[string]func(*spec.Version){
		"image":               func(v *spec.Version) { v.Image = "registry.example.com/fraud:1.5.0" },
		"image pull policy":   func(v *spec.Version) { v.ImagePullPolicy = "Always" },
		"jar":                 func(v *spec.Version) { v.JarURI = "local:///opt/flink/usrlib/fraud-2.jar" },
		"entry class":         func(v *spec.Version) { v.EntryClass = "com.example.fraud.JobV2" },
		"args":                func(v *spec.Version) { v.Args = []string{"--input", "kafka://payments-v2"} },
		"flink version":       func(v *spec.Version) { v.FlinkVersion = "2.1" },
		"parallelism":         func(v *spec.Version) { v.Parallelism = 3 },
		"config value":        func(v *spec.Version) { v.FlinkConfiguration["pipeline.name"] = "fraud-v2" },
		"config key added":    func(v *spec.Version) { v.FlinkConfiguration["execution.checkpointing.interval"] = "30s" },
		"config removed":      func(v *spec.Version) { v.FlinkConfiguration = nil },
		"jobmanager memory":   func(v *spec.Version) { v.JobManager.Memory = "2048m" },
		"taskmanager cpu":     func(v *spec.Version) { v.TaskManager.CPU = 2 },
		"taskmanager slots":   func(v *spec.Version) { v.TaskManager.TaskSlots = 2 },
		"taskmanager count":   func(v *spec.Version) { v.TaskManager.Replicas = 3 },
		"env":                 func(v *spec.Version) { v.Env = map[string]string{"TZ": "UTC"} },
		"log configuration":   func(v *spec.Version) { v.LogConfiguration = "rootLogger.level = DEBUG\n" },
		"jobmanager replicas": func(v *spec.Version) { v.JobManager.Replicas = 2 },
	}
	hashes := map[string]string{h0: "base"}
	for name, mutate := range seen {
		t.Run("sees "+name, func(t *testing.T) {
			v := testVersion("v1")
			mutate(&v)
			got := RuntimeHash(v)
			if got == h0 {
				t.Errorf("RuntimeHash did not change when the %s changed", name)
			}
			if other, dup := hashes[got]; dup {
				t.Errorf("RuntimeHash of %s change collides with %s", name, other)
			}
			hashes[got] = name
			// and Classify turns it into a redeploy of a running application
			cur := &Current{Version: testVersion("v1"), State: StateRunning, JobID: runningJobID}
			if op := Classify(cur, desiredFor(v, StateRunning)).Operation; op != OpStatelessRedeploy {
				t.Errorf("Classify after a %s change = %s, want %s", name, op, OpStatelessRedeploy)
			}
		})
	}
	// RuntimeHash must not modify its argument (it takes a value, but maps are shared).
	v := testVersion("v1")
	RuntimeHash(v)
	if v.Label != "v1" || v.Description == "" || v.FlinkConfiguration["pipeline.name"] != "fraud" {
		t.Errorf("RuntimeHash modified its argument: %+v", v)
	}
}

func TestJobIDFor(t *testing.T) {
	t.Parallel()
	id := JobIDFor("payments", "fraud", 1)
	if !isHex32(id) {
		t.Fatalf("JobIDFor = %q, want 32 lower-case hex digits", id)
	}
	if again := JobIDFor("payments", "fraud", 1); again != id {
		t.Errorf("JobIDFor is not deterministic: %q then %q", id, again)
	}
	seen := map[string]string{}
	for _, c := range []struct {
		ns, name string
		gen      int64
	}{
		{"payments", "fraud", 1}, {"payments", "fraud", 2}, {"payments", "fraud", 3}, {"payments", "fraud", 100},
		{"payments", "fraud2", 1}, {"payments2", "fraud", 1}, {"risk", "fraud", 1},
		{"a", "b1", 1}, {"a", "b", 11},
	} {
		got := JobIDFor(c.ns, c.name, c.gen)
		key := fmt.Sprintf("%s/%s gen %d", c.ns, c.name, c.gen)
		if !isHex32(got) {
			t.Errorf("JobIDFor(%s) = %q, want 32 hex digits", key, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("JobIDFor(%s) = JobIDFor(%s) = %s", key, prev, got)
		}
		seen[got] = key
	}
}

func TestParseApplicationID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id, ns, name string
		ok           bool
	}{
		{"payments/fraud", "payments", "fraud", true},
		{"fraud", "", "", false},
		{"payments/", "", "", false},
		{"/fraud", "", "", false},
		{"payments/fraud/v1", "", "", false},
		{"", "", "", false},
	} {
		ns, name, err := ParseApplicationID(c.id)
		if c.ok != (err == nil) || ns != c.ns || name != c.name {
			t.Errorf("ParseApplicationID(%q) = %q, %q, %v", c.id, ns, name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "namespace/name") {
			t.Errorf("ParseApplicationID(%q) error %q does not show the expected form", c.id, err)
		}
	}
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

// TestEveryPlannedOperationHasSteps: an operation the table can plan (or recover) that the
// step machine has no steps for would fail at apply, after the plan promised it.
func TestEveryPlannedOperationHasSteps(t *testing.T) {
	planned := map[Operation]bool{OpRecover: true}
	for _, row := range operationTable {
		planned[row.op] = true
	}
	for op := range planned {
		if operationSteps[op].run == nil {
			t.Errorf("operation %s is planned but has no run step in operationSteps", op)
		}
	}
	for op, s := range operationSteps {
		if s.run == nil && op != opSnapshot && op != opDestroy {
			t.Errorf("operation %s has steps but no run step", op)
		}
	}
}
