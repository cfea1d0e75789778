package lifecycle

import (
	"fmt"
	"strings"
	"testing"

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
			summary: []string{"fraud: ", "deploy version v1", "Flink 1.20", "parallelism 2", "empty state"},
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
			want:    OpStatelessRedeploy,
			summary: []string{"fraud: ", "the job is not running", "start version v1 again", "empty state"},
		},
		{
			name: "cancelled job restarted with a new version", current: cancelled, desired: desiredFor(v2, StateRunning),
			want:    OpStatelessRedeploy,
			summary: []string{"fraud: ", "the job is not running", "start version v2 again"},
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
			got := Classify(tc.current, tc.desired)
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

// TestClassifyCoversOperationTable drives Classify through every row of operationTable,
// so a row added without a matching Classify path (or vice versa) fails here.
func TestClassifyCoversOperationTable(t *testing.T) {
	t.Parallel()
	v1 := testVersion("v1")
	changed := testVersion("v1")
	changed.Parallelism = 4
	seen := map[string]bool{}
	for _, row := range operationTable {
		key := fmt.Sprintf("%q->%q changed=%v", row.from, row.to, row.specChanged)
		if seen[key] {
			t.Errorf("operationTable has two rows for %s", key)
		}
		seen[key] = true
		t.Run(key, func(t *testing.T) {
			var current *Current
			desired := desiredFor(v1, row.to)
			if row.from != "" {
				current = &Current{Version: v1, State: row.from, JobID: runningJobID}
				if row.specChanged {
					desired.Version = changed
				}
			} else if !row.specChanged {
				t.Fatalf("row for a new application must count the spec as changed")
			}
			got := Classify(current, desired)
			if got.Operation != row.op {
				t.Errorf("Classify = %s, table says %s", got.Operation, row.op)
			}
			if !strings.HasPrefix(got.Summary, "fraud: ") || len(got.Summary) < len("fraud: ")+10 {
				t.Errorf("summary %q does not describe the change for application fraud", got.Summary)
			}
		})
	}
	// Every state pair a validated configuration can produce has a row.
	for _, from := range []string{"", StateRunning, StateCancelled} {
		for _, to := range []string{StateRunning, StateCancelled} {
			for _, changed := range []bool{false, true} {
				if from == "" && !changed {
					continue
				}
				if key := fmt.Sprintf("%q->%q changed=%v", from, to, changed); !seen[key] {
					t.Errorf("operationTable has no row for %s", key)
				}
			}
		}
	}
}

func TestClassifyRefusesUnknownState(t *testing.T) {
	t.Parallel()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), `"suspended"`) {
			t.Errorf("Classify of an unknown desired state: recovered %v, want a panic naming the state", r)
		}
	}()
	Classify(nil, desiredFor(testVersion("v1"), "suspended"))
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
