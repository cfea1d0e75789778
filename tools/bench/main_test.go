package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The provider's progress lines of one savepoint upgrade, as terraform's TF_LOG=INFO writes
// them (the lines the lifecycle logs today, in their order).
const upgradeLog = `2026-12-05T02:00:00.000Z [INFO]  provider.terraform-provider-flink: counter: stop job 41619a05… (version v1) with a savepoint, then start version v2 from it
2026-12-05T02:00:01.000Z [INFO]  provider.terraform-provider-flink: counter: stopping job 41619a05… with a savepoint
2026-12-05T02:00:01.400Z [INFO]  provider.terraform-provider-flink: counter: snapshot file:///s/savepoint-1 recorded as counter-20261205-020001
2026-12-05T02:00:01.600Z [INFO]  provider.terraform-provider-flink: counter: waiting for job 9f0a1b2c… to run
2026-12-05T02:00:07.600Z [INFO]  provider.terraform-provider-flink: counter: waiting for the JobManager and TaskManager rollout
2026-12-05T02:00:08.000Z [INFO]  provider.terraform-provider-flink: counter: savepoint_redeploy done; job 9f0a1b2c… is RUNNING
`

func TestMeasure_SplitsAnUpgradeAndItsDowntime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apply.tflog")
	if err := os.WriteFile(path, []byte(upgradeLog), 0o644); err != nil {
		t.Fatal(err)
	}
	submitted := time.Date(2026, 12, 5, 2, 0, 4, 600e6, time.UTC) // the new JobManager's JVM took 3 s
	s, err := measure(path, submitted)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"savepoint": 400 * time.Millisecond, "redeploy": 200 * time.Millisecond,
		"start": 6 * time.Second, "finish": 400 * time.Millisecond}
	for name, d := range want {
		if s.phase[name] != d {
			t.Errorf("%s = %s, want %s", name, s.phase[name], d)
		}
	}
	if s.downtime != 6600*time.Millisecond || s.jobStart != 3*time.Second || s.floor() != 3400*time.Millisecond {
		t.Errorf("downtime %s, job start %s, floor %s; want 6.6s, 3s, 3.4s", s.downtime, s.jobStart, s.floor())
	}

	// A job "submitted" before the savepoint is the old one: the measurement is refused.
	if _, err := measure(path, submitted.Add(-10*time.Second)); err == nil || !strings.Contains(err.Error(), "not between") {
		t.Errorf("old job's start-time: %v", err)
	}
	// Progress lines that changed order are refused, not measured as negative phases.
	swapped := strings.Replace(strings.Replace(upgradeLog, "waiting for job 9f0a1b2c… to run", "SWAP", 1),
		"waiting for the JobManager and TaskManager rollout", "waiting for job 9f0a1b2c… to run", 1)
	swapped = strings.Replace(swapped, "SWAP", "waiting for the JobManager and TaskManager rollout", 1)
	if err := os.WriteFile(path, []byte(swapped), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := measure(path, submitted); err == nil || !strings.Contains(err.Error(), "changed order") {
		t.Errorf("lines out of order: %v", err)
	}
}

func TestLongestSlotWait_IsTheLongestWaitOfAnyTask(t *testing.T) {
	var vertices []subtaskTimes
	raw := `[{"subtasks":[{"timestamps":{"CREATED":1000,"SCHEDULED":1100,"DEPLOYING":1150,"RUNNING":1900}},
	                        {"timestamps":{"CREATED":1000,"SCHEDULED":1100,"DEPLOYING":1400,"RUNNING":2000}}]},
	         {"subtasks":[{"timestamps":{"CREATED":1000,"SCHEDULED":1200,"DEPLOYING":1300,"RUNNING":1800}}]}]`
	if err := json.Unmarshal([]byte(raw), &vertices); err != nil {
		t.Fatal(err)
	}
	if got, err := longestSlotWait(vertices); err != nil || got != 300*time.Millisecond {
		t.Errorf("longestSlotWait = %s, %v; want 300ms", got, err)
	}
	// A subtask that never got a slot, or no subtasks at all, is not measured as no wait.
	vertices[1].Subtasks[0].Timestamps["DEPLOYING"] = 0
	if _, err := longestSlotWait(vertices); err == nil {
		t.Error("a subtask without DEPLOYING was measured")
	}
	if _, err := longestSlotWait(nil); err == nil {
		t.Error("no subtasks was measured as no wait")
	}
}
