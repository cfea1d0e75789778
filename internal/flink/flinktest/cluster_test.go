package flinktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestJobStartsInitializingThenRuns(t *testing.T) {
	c := newTestCluster(t, JobSpec{FlinkVersion: "1.20.1", JobName: "fraud", Parallelism: 2})
	if got := c.JobState(); got != stateInitializing {
		t.Fatalf("state right after start = %s, want INITIALIZING", got)
	}
	code, body := call(t, c, http.MethodGet, "/jobs/"+testJobID, "")
	if code != http.StatusOK || body["state"] != stateInitializing || body["end-time"] != float64(-1) {
		t.Fatalf("details while initializing: %d %v", code, body)
	}
	waitHealthy(t, c)

	code, body = call(t, c, http.MethodGet, "/jobs/"+testJobID, "")
	if code != http.StatusOK {
		t.Fatalf("GET job: %d %v", code, body)
	}
	if body["jid"] != testJobID || body["name"] != "fraud" || body["job-type"] != "STREAMING" || body["isStoppable"] != false {
		t.Errorf("identity fields wrong: %v", body)
	}
	ts := body["timestamps"].(map[string]any)
	if len(ts) != len(jobStates) {
		t.Errorf("timestamps has %d states, want %d: %v", len(ts), len(jobStates), ts)
	}
	if !(ts["INITIALIZING"].(float64) <= ts["CREATED"].(float64) && ts["CREATED"].(float64) <= ts["RUNNING"].(float64)) || ts["FAILED"] != float64(0) {
		t.Errorf("timestamps out of order: %v", ts)
	}
	vertices := body["vertices"].([]any)
	var names []string
	for _, raw := range vertices {
		v := raw.(map[string]any)
		names = append(names, v["name"].(string))
		if v["status"] != execRunning || v["parallelism"] != float64(2) || v["maxParallelism"] != float64(128) {
			t.Errorf("vertex %v", v)
		}
		if !isHexID(v["id"].(string)) {
			t.Errorf("vertex id %q is not 32 hex", v["id"])
		}
		if dig(t, v, "tasks", "RUNNING") != float64(2) {
			t.Errorf("vertex tasks %v", v["tasks"])
		}
	}
	if strings.Join(names, ",") != "Source,Counter,Sink" {
		t.Errorf("vertex names %v", names)
	}
	if dig(t, body, "status-counts", "RUNNING") != float64(3) {
		t.Errorf("status-counts %v", body["status-counts"])
	}
	if _, ok := body["pending-operators"]; ok {
		t.Errorf("1.x details should not carry pending-operators")
	}

	code, body = call(t, c, http.MethodGet, "/jobs/overview", "")
	jobs := body["jobs"].([]any)
	if code != http.StatusOK || len(jobs) != 1 {
		t.Fatalf("overview: %d %v", code, body)
	}
	job := jobs[0].(map[string]any)
	if job["jid"] != testJobID || job["state"] != stateRunning || dig(t, job, "tasks", "running") != float64(6) || dig(t, job, "tasks", "total") != float64(6) {
		t.Errorf("job overview %v", job)
	}
}

func TestVerticesWaitForSlots(t *testing.T) {
	c := newTestCluster(t, JobSpec{Parallelism: 4})
	c.SetTaskManagers(1, 2)
	eventually(t, "the job is RUNNING", func() bool { return c.JobState() == stateRunning })
	time.Sleep(30 * time.Millisecond) // longer than any deployment
	for name, s := range c.VertexStates() {
		if s != execScheduled {
			t.Errorf("vertex %s is %s with 2 of 4 slots, want SCHEDULED", name, s)
		}
	}
	_, ov := call(t, c, http.MethodGet, "/overview", "")
	if ov["taskmanagers"] != float64(1) || ov["slots-total"] != float64(2) || ov["slots-available"] != float64(0) || ov["jobs-running"] != float64(1) {
		t.Errorf("overview while waiting: %v", ov)
	}

	c.SetTaskManagers(2, 2)
	waitHealthy(t, c)
	_, ov = call(t, c, http.MethodGet, "/overview", "")
	if ov["slots-total"] != float64(4) || ov["slots-available"] != float64(0) {
		t.Errorf("overview when running: %v", ov)
	}
}

func TestLosingSlotsRestartsTheJob(t *testing.T) {
	c := newTestCluster(t, JobSpec{Parallelism: 2})
	waitHealthy(t, c)
	c.SetTaskManagers(0, 0)
	if got := c.JobState(); got != stateRunning {
		t.Errorf("job state after losing TaskManagers = %s, want RUNNING (restarting)", got)
	}
	for name, s := range c.VertexStates() {
		if s != execScheduled {
			t.Errorf("vertex %s = %s, want SCHEDULED", name, s)
		}
	}
	_, body := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/exceptions", "")
	entries := dig(t, body, "exceptionHistory", "entries").([]any)
	if len(entries) != 1 || !strings.Contains(entries[0].(map[string]any)["stacktrace"].(string), "no longer reachable") {
		t.Errorf("exception history after TaskManager loss: %v", body)
	}
	c.SetTaskManagers(1, 2)
	waitHealthy(t, c)
}

func TestUnknownAndMalformedJobIDs(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	other := "00000000000000000000000000000001"
	for _, path := range []string{"/jobs/" + other, "/jobs/" + other + "/config", "/jobs/" + other + "/exceptions", "/jobs/" + other + "/checkpoints"} {
		code, body := call(t, c, http.MethodGet, path, "")
		errs := errorsOf(t, body)
		if code != http.StatusNotFound || len(errs) != 1 || !strings.HasPrefix(errs[0], "org.apache.flink.runtime.rest.NotFoundException: Job "+other+" not found") {
			t.Errorf("GET %s: %d %v", path, code, errs)
		}
	}
	code, body := call(t, c, http.MethodGet, "/jobs/not-a-job-id", "")
	if errs := errorsOf(t, body); code != http.StatusBadRequest || !strings.Contains(errs[0], `Cannot resolve path parameter (jobid) from value "not-a-job-id"`) {
		t.Errorf("malformed id: %d %v", code, errs)
	}
	// Like real Flink: a GET without a route falls through to the web UI's static files.
	code, body = call(t, c, http.MethodGet, "/no/such/route?x=1", "")
	if errs := errorsOf(t, body); code != http.StatusNotFound || errs[0] != "Unable to load requested file /no/such/route." {
		t.Errorf("unknown GET route: %d %v", code, errs)
	}
	code, body = call(t, c, http.MethodPost, "/no/such/route?x=1", "")
	if errs := errorsOf(t, body); code != http.StatusNotFound || errs[0] != "Not found: /no/such/route?x=1" {
		t.Errorf("unknown POST route: %d %v", code, errs)
	}
	code, body = call(t, c, http.MethodPatch, "/jobs/"+other+"?mode=cancel", "")
	if errs := errorsOf(t, body); code != http.StatusNotFound || !strings.Contains(errs[0], "Job could not be found.") {
		t.Errorf("cancel unknown job: %d %v", code, errs)
	}
}

func TestCancelViaREST(t *testing.T) {
	c := newTestCluster(t, JobSpec{Parallelism: 1})
	waitHealthy(t, c)
	code, body := call(t, c, http.MethodPatch, "/jobs/"+testJobID+"?mode=cancel", "")
	if code != http.StatusAccepted || len(body) != 0 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	if s := c.JobState(); s != stateCancelling && s != stateCanceled {
		t.Errorf("state right after cancel = %s", s)
	}
	eventually(t, "CANCELED", func() bool { return c.JobState() == stateCanceled })
	for name, s := range c.VertexStates() {
		if s != execCanceled {
			t.Errorf("vertex %s = %s, want CANCELED", name, s)
		}
	}
	// Still listed, with an end time; cancelling again is accepted.
	_, body = call(t, c, http.MethodGet, "/jobs/overview", "")
	job := body["jobs"].([]any)[0].(map[string]any)
	if job["state"] != stateCanceled || job["end-time"].(float64) <= 0 {
		t.Errorf("overview after cancel: %v", job)
	}
	if code, _ := call(t, c, http.MethodPatch, "/jobs/"+testJobID+"?mode=cancel", ""); code != http.StatusAccepted {
		t.Errorf("second cancel: %d", code)
	}
	_, ov := call(t, c, http.MethodGet, "/overview", "")
	if ov["jobs-running"] != float64(0) || ov["jobs-cancelled"] != float64(1) {
		t.Errorf("overview counts: %v", ov)
	}
}

func TestCancelTerminalJob(t *testing.T) {
	tests := []struct {
		name      string
		terminate func(c *Cluster)
		wantCode  int
	}{
		{"failed", func(c *Cluster) { c.Fail("boom") }, http.StatusConflict},
		{"canceled out of band", func(c *Cluster) { c.Cancel() }, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, JobSpec{})
			waitHealthy(t, c)
			tt.terminate(c)
			code, body := call(t, c, http.MethodPatch, "/jobs/"+testJobID, "")
			if code != tt.wantCode {
				t.Errorf("cancel: %d %v, want %d", code, body, tt.wantCode)
			}
		})
	}
}

func TestFailRecordsRootException(t *testing.T) {
	for _, version := range []string{"1.18.1", "2.1.0"} {
		t.Run(version, func(t *testing.T) {
			c := newTestCluster(t, JobSpec{FlinkVersion: version})
			waitHealthy(t, c)
			c.Fail("sink unavailable")
			if got := c.JobState(); got != stateFailed {
				t.Fatalf("state = %s, want FAILED", got)
			}
			_, body := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/exceptions", "")
			entries := dig(t, body, "exceptionHistory", "entries").([]any)
			if len(entries) != 1 {
				t.Fatalf("entries: %v", body)
			}
			entry := entries[0].(map[string]any)
			if entry["exceptionName"] != "java.lang.RuntimeException" || !strings.HasPrefix(entry["stacktrace"].(string), "java.lang.RuntimeException: sink unavailable\n") {
				t.Errorf("entry %v", entry)
			}
			root, hasRoot := body["root-exception"]
			if version == "2.1.0" {
				if hasRoot {
					t.Errorf("Flink 2 answer has root-exception: %v", body)
				}
			} else if !strings.HasPrefix(fmt.Sprint(root), "java.lang.RuntimeException: sink unavailable") {
				t.Errorf("root-exception = %v", root)
			}
			vs := c.VertexStates()
			if vs["Source"] != execFailed || vs["Sink"] != execCanceled {
				t.Errorf("vertex states after failure: %v", vs)
			}
		})
	}
}

var savepointPathRE = regexp.MustCompile(`^s3://bucket/savepoints/savepoint-a1b2c3-[0-9a-f]{12}$`)

func TestSavepointTriggerAndStatus(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://bucket/defaults"})
	waitHealthy(t, c)
	c.Faults().SlowSavepoints(80 * time.Millisecond)

	code, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{"target-directory":"s3://bucket/savepoints/","cancel-job":false}`)
	if code != http.StatusAccepted || !isHexID(fmt.Sprint(body["request-id"])) {
		t.Fatalf("trigger: %d %v", code, body)
	}
	trigger := body["request-id"].(string)
	status := savepointStatus(t, c, testJobID, trigger)
	if dig(t, status, "status", "id") != "IN_PROGRESS" || status["operation"] != nil {
		t.Errorf("status right after trigger: %v", status)
	}
	_, stats := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
	if dig(t, stats, "counts", "in_progress") != float64(1) {
		t.Errorf("in-progress count: %v", stats["counts"])
	}

	status = waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+trigger)
	location := fmt.Sprint(dig(t, status, "operation", "location"))
	if !savepointPathRE.MatchString(location) {
		t.Errorf("location %q does not match %s", location, savepointPathRE)
	}
	if c.JobState() != stateRunning {
		t.Errorf("job state after savepoint = %s", c.JobState())
	}
	_, stats = call(t, c, http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
	sp := dig(t, stats, "latest", "savepoint").(map[string]any)
	if sp["external_path"] != location || sp["is_savepoint"] != true || sp["checkpoint_type"] != "SAVEPOINT" || sp["savepointFormat"] != "CANONICAL" {
		t.Errorf("latest savepoint %v", sp)
	}
	if dig(t, stats, "counts", "completed") != float64(1) || dig(t, stats, "counts", "in_progress") != float64(0) {
		t.Errorf("counts %v", stats["counts"])
	}
	if got := c.Savepoints(); len(got) != 1 || got[0] != location {
		t.Errorf("Savepoints() = %v", got)
	}
}

func TestSavepointDirectoryResolution(t *testing.T) {
	tests := []struct {
		name      string
		spec      JobSpec
		body      string
		wantCode  int
		wantInErr string
		wantDir   string
	}{
		{name: "spec default", spec: JobSpec{SavepointDir: "s3://b/default"}, body: `{}`, wantCode: 202, wantDir: "s3://b/default/"},
		{name: "config default", spec: JobSpec{Config: map[string]string{"state.savepoints.dir": "gs://b/sp"}}, body: ``, wantCode: 202, wantDir: "gs://b/sp/"},
		{name: "local path gets file scheme", spec: JobSpec{}, body: `{"target-directory":"/tmp/sp"}`, wantCode: 202, wantDir: "file:/tmp/sp/"},
		{name: "none on 1.18", spec: JobSpec{FlinkVersion: "1.18.1"}, body: `{}`, wantCode: 400,
			wantInErr: "Config key [state.savepoints.dir] is not set. Property [target-directory] must be provided."},
		{name: "none on 2.1", spec: JobSpec{FlinkVersion: "2.1.0"}, body: `{}`, wantCode: 400,
			wantInErr: "Config key [execution.checkpointing.savepoint-dir] is not set. Property [target-directory] must be provided."},
		{name: "unknown field", spec: JobSpec{SavepointDir: "s3://b"}, body: `{"targetDirectory":"s3://x"}`, wantCode: 400,
			wantInErr: "Request did not match expected format SavepointTriggerRequestBody."},
		{name: "bad format type", spec: JobSpec{SavepointDir: "s3://b"}, body: `{"formatType":"canonical"}`, wantCode: 400,
			wantInErr: "Request did not match expected format SavepointTriggerRequestBody."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, tt.spec)
			waitHealthy(t, c)
			code, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", tt.body)
			if code != tt.wantCode {
				t.Fatalf("trigger: %d %v, want %d", code, body, tt.wantCode)
			}
			if tt.wantInErr != "" {
				if errs := errorsOf(t, body); !strings.Contains(errs[0], tt.wantInErr) {
					t.Errorf("error %q does not contain %q", errs[0], tt.wantInErr)
				}
				return
			}
			status := waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+body["request-id"].(string))
			if loc := fmt.Sprint(dig(t, status, "operation", "location")); !strings.HasPrefix(loc, tt.wantDir+"savepoint-a1b2c3-") {
				t.Errorf("location %q, want prefix %q", loc, tt.wantDir)
			}
		})
	}
}

func TestSavepointTriggerIDIsIdempotent(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://b"})
	waitHealthy(t, c)
	const trigger = "0123456789abcdef0123456789abcdef"
	for range 2 {
		code, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{"triggerId":"`+trigger+`"}`)
		if code != http.StatusAccepted || body["request-id"] != trigger {
			t.Fatalf("trigger: %d %v", code, body)
		}
	}
	waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+trigger)
	if n := len(c.Savepoints()); n != 1 {
		t.Errorf("%d savepoints taken, want 1", n)
	}
}

func TestStopWithSavepointFinishesTheJob(t *testing.T) {
	for _, drain := range []bool{false, true} {
		t.Run(fmt.Sprintf("drain=%v", drain), func(t *testing.T) {
			c := newTestCluster(t, JobSpec{SavepointDir: "s3://bucket/savepoints"})
			waitHealthy(t, c)
			var hooked []string
			var mu sync.Mutex
			c.OnSavepoint(func(path string) error {
				mu.Lock()
				defer mu.Unlock()
				hooked = append(hooked, path)
				return nil
			})
			code, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/stop", fmt.Sprintf(`{"drain":%v,"formatType":"NATIVE"}`, drain))
			if code != http.StatusAccepted {
				t.Fatalf("stop: %d %v", code, body)
			}
			status := waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+body["request-id"].(string))
			location := fmt.Sprint(dig(t, status, "operation", "location"))
			if !savepointPathRE.MatchString(location) {
				t.Errorf("location %q", location)
			}
			if got := c.JobState(); got != stateFinished {
				t.Errorf("state after stop = %s, want FINISHED", got)
			}
			for name, s := range c.VertexStates() {
				if s != execFinished {
					t.Errorf("vertex %s = %s", name, s)
				}
			}
			mu.Lock()
			if len(hooked) != 1 || hooked[0] != location {
				t.Errorf("hook saw %v, want [%s]", hooked, location)
			}
			mu.Unlock()
			_, stats := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
			if sp := dig(t, stats, "latest", "savepoint").(map[string]any); sp["checkpoint_type"] != "SYNC_SAVEPOINT" || sp["savepointFormat"] != "NATIVE" {
				t.Errorf("stop savepoint stats %v", sp)
			}
		})
	}
}

func TestSavepointWithCancelJob(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://b"})
	waitHealthy(t, c)
	_, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{"cancel-job":true}`)
	waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+body["request-id"].(string))
	if got := c.JobState(); got != stateCanceled {
		t.Errorf("state = %s, want CANCELED", got)
	}
}

func TestSavepointFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(c *Cluster)
		wantCause  string
		wantState  string
		wantFailed float64
	}{
		{
			name:       "injected",
			setup:      func(c *Cluster) { c.Faults().FailSavepoints("bucket is read-only") },
			wantCause:  "Caused by: java.io.IOException: bucket is read-only",
			wantState:  stateRunning,
			wantFailed: 1,
		},
		{
			name: "hook error",
			setup: func(c *Cluster) {
				c.OnSavepoint(func(string) error { return fmt.Errorf("cannot write _metadata") })
			},
			wantCause:  "Caused by: java.io.IOException: cannot write _metadata",
			wantState:  stateRunning,
			wantFailed: 1,
		},
		{
			name: "job cancelled meanwhile",
			setup: func(c *Cluster) {
				c.Faults().SlowSavepoints(50 * time.Millisecond)
				go func() { time.Sleep(10 * time.Millisecond); c.Cancel() }()
			},
			wantCause:  "Checkpoint Coordinator is suspending.",
			wantState:  stateCanceled,
			wantFailed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, JobSpec{SavepointDir: "s3://b"})
			waitHealthy(t, c)
			tt.setup(c)
			_, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/stop", `{}`)
			status := waitOperation(t, c, "/jobs/"+testJobID+"/savepoints/"+body["request-id"].(string))
			cause := dig(t, status, "operation", "failure-cause").(map[string]any)
			if cause["class"] != "java.util.concurrent.CompletionException" || !strings.Contains(cause["stack-trace"].(string), tt.wantCause) {
				t.Errorf("failure-cause %v, want it to contain %q", cause, tt.wantCause)
			}
			if _, ok := dig(t, status, "operation").(map[string]any)["location"]; ok {
				t.Errorf("failed savepoint has a location: %v", status)
			}
			if got := c.JobState(); got != tt.wantState {
				t.Errorf("job state = %s, want %s", got, tt.wantState)
			}
			_, stats := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
			if dig(t, stats, "counts", "failed") != tt.wantFailed || dig(t, stats, "latest", "failed") == nil {
				t.Errorf("checkpoint stats after failure: %v", stats["counts"])
			}
		})
	}
}

func TestSavepointFailsWhileTasksWaitForSlots(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://b", Parallelism: 2})
	c.SetTaskManagers(1, 1)
	eventually(t, "RUNNING", func() bool { return c.JobState() == stateRunning })
	_, body := call(t, c, http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{}`)
	status := savepointStatus(t, c, testJobID, body["request-id"].(string))
	stack := fmt.Sprint(dig(t, status, "operation", "failure-cause", "stack-trace"))
	if dig(t, status, "status", "id") != "COMPLETED" || !strings.Contains(stack, "Not all required tasks are currently running.") {
		t.Errorf("status %v", status)
	}
}

func TestSavepointOfUnknownJobFailsAsynchronously(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://b"})
	other := "ffffffffffffffffffffffffffffffff"
	code, body := call(t, c, http.MethodPost, "/jobs/"+other+"/savepoints", `{}`)
	if code != http.StatusAccepted {
		t.Fatalf("trigger: %d %v", code, body)
	}
	status := savepointStatus(t, c, other, body["request-id"].(string))
	if dig(t, status, "operation", "failure-cause", "class") != "org.apache.flink.runtime.messages.FlinkJobNotFoundException" {
		t.Errorf("status %v", status)
	}
	code, body = call(t, c, http.MethodGet, "/jobs/"+testJobID+"/savepoints/0123456789abcdef0123456789abcdef", "")
	if code != http.StatusNotFound || !strings.Contains(errorsOf(t, body)[0], "There is no savepoint operation with triggerId=0123456789abcdef0123456789abcdef for job "+testJobID+".") {
		t.Errorf("unknown trigger: %d %v", code, body)
	}
}

func TestPeriodicCheckpointsAndRestore(t *testing.T) {
	c := newTestCluster(t, JobSpec{
		RestorePath: "s3://bucket/checkpoints/" + testJobID + "/chk-41",
		Config: map[string]string{
			"execution.checkpointing.interval": "15 ms",
			"state.checkpoints.dir":            "s3://bucket/checkpoints",
		},
	})
	waitHealthy(t, c)
	var stats map[string]any
	eventually(t, "two checkpoints completed", func() bool {
		_, stats = call(t, c, http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
		return dig(t, stats, "counts", "completed").(float64) >= 2
	})
	latest := dig(t, stats, "latest", "completed").(map[string]any)
	id := int(latest["id"].(float64))
	if id < 43 {
		t.Errorf("checkpoint ids should continue after the restored chk-41, got %d", id)
	}
	if want := fmt.Sprintf("s3://bucket/checkpoints/%s/chk-%d", testJobID, id); latest["external_path"] != want || latest["is_savepoint"] != false {
		t.Errorf("latest completed %v, want path %s", latest, want)
	}
	restored := dig(t, stats, "latest", "restored").(map[string]any)
	if restored["external_path"] != "s3://bucket/checkpoints/"+testJobID+"/chk-41" || restored["is_savepoint"] != false || restored["id"] != float64(41) {
		t.Errorf("restored %v", restored)
	}
	if dig(t, stats, "counts", "restored") != float64(1) || c.RestoredFrom() != "s3://bucket/checkpoints/"+testJobID+"/chk-41" {
		t.Errorf("restored count %v", stats["counts"])
	}
	if h := stats["history"].([]any); len(h) < 2 || h[0].(map[string]any)["id"].(float64) <= h[1].(map[string]any)["id"].(float64) {
		t.Errorf("history should be newest first: %v", h)
	}
}

func TestNoCheckpointsWithoutInterval(t *testing.T) {
	c := newTestCluster(t, JobSpec{RestorePath: "s3://b/savepoints/savepoint-a1b2c3-0123456789ab"})
	waitHealthy(t, c)
	time.Sleep(30 * time.Millisecond)
	_, stats := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
	if dig(t, stats, "counts", "completed") != float64(0) || dig(t, stats, "latest", "completed") != nil {
		t.Errorf("checkpoints without interval: %v", stats)
	}
	if dig(t, stats, "latest", "restored", "is_savepoint") != true {
		t.Errorf("restored: %v", dig(t, stats, "latest", "restored"))
	}
}

func TestConfigEndpoints(t *testing.T) {
	c := newTestCluster(t, JobSpec{
		FlinkVersion: "2.1.0", JobName: "orders", Parallelism: 3,
		RestorePath: "s3://b/sp/savepoint-a1b2c3-0123456789ab", AllowNonRestoredState: true,
		Config: map[string]string{"taskmanager.numberOfTaskSlots": "3", "pipeline.global-job-parameters": "env:prod,team:payments"},
	})
	_, cfg := call(t, c, http.MethodGet, "/config", "")
	if cfg["flink-version"] != "2.1.0" || !regexp.MustCompile(`^[0-9a-f]{7} @ `).MatchString(fmt.Sprint(cfg["flink-revision"])) || dig(t, cfg, "features", "web-submit") != false {
		t.Errorf("/config %v", cfg)
	}
	code, entries := callList(t, c, "/jobmanager/config")
	got := map[string]string{}
	for _, e := range entries {
		got[e["key"].(string)] = e["value"].(string)
	}
	want := map[string]string{
		"taskmanager.numberOfTaskSlots":                   "3",
		"pipeline.global-job-parameters":                  "env:prod,team:payments",
		"$internal.pipeline.job-id":                       testJobID,
		"execution.state-recovery.path":                   "s3://b/sp/savepoint-a1b2c3-0123456789ab", // Flink 2.x key
		"execution.state-recovery.ignore-unclaimed-state": "true",
		"rest.port": "8081", // Flink's default, reported like every JobManager's
	}
	if code != http.StatusOK || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("/jobmanager/config = %d %v, want %v", code, got, want)
	}
	_, jc := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/config", "")
	if jc["jid"] != testJobID || jc["name"] != "orders" || dig(t, jc, "execution-config", "job-parallelism") != float64(3) || dig(t, jc, "execution-config", "user-config", "team") != "payments" {
		t.Errorf("/jobs/:id/config %v", jc)
	}
	waitHealthy(t, c)
	_, details := call(t, c, http.MethodGet, "/jobs/"+testJobID, "")
	if details["pending-operators"] != float64(0) {
		t.Errorf("2.x details lack pending-operators: %v", details)
	}
}

func TestResourceRequirements(t *testing.T) {
	t.Run("default scheduler", func(t *testing.T) {
		c := newTestCluster(t, JobSpec{Parallelism: 2})
		waitHealthy(t, c)
		code, body := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/resource-requirements", "")
		if errs := errorsOf(t, body); code != http.StatusInternalServerError || errs[0] != "Internal server error." || !strings.Contains(errs[1], "java.lang.UnsupportedOperationException") {
			t.Errorf("GET: %d %v", code, errs)
		}
		req := fmt.Sprintf(`{"%s":{"parallelism":{"lowerBound":1,"upperBound":4}},"%s":{"parallelism":{"lowerBound":1,"upperBound":4}},"%s":{"parallelism":{"lowerBound":1,"upperBound":4}}}`,
			vertexID("Source"), vertexID("Counter"), vertexID("Sink"))
		code, body = call(t, c, http.MethodPut, "/jobs/"+testJobID+"/resource-requirements", req)
		if code != http.StatusInternalServerError || !strings.Contains(errorsOf(t, body)[1], "UnsupportedOperationException") {
			t.Errorf("PUT: %d %v", code, body)
		}
	})
	t.Run("adaptive scheduler", func(t *testing.T) {
		c := newTestCluster(t, JobSpec{Parallelism: 2, Config: map[string]string{"jobmanager.scheduler": "adaptive"}})
		c.SetTaskManagers(2, 2)
		waitHealthy(t, c)
		code, body := call(t, c, http.MethodGet, "/jobs/"+testJobID+"/resource-requirements", "")
		if code != http.StatusOK || len(body) != 3 || dig(t, body, vertexID("Counter"), "parallelism", "upperBound") != float64(2) || dig(t, body, vertexID("Counter"), "parallelism", "lowerBound") != float64(1) {
			t.Fatalf("GET: %d %v", code, body)
		}
		put := func(upper int) (int, map[string]any) {
			return call(t, c, http.MethodPut, "/jobs/"+testJobID+"/resource-requirements", fmt.Sprintf(
				`{"%s":{"parallelism":{"lowerBound":1,"upperBound":%d}},"%s":{"parallelism":{"lowerBound":1,"upperBound":%d}},"%s":{"parallelism":{"lowerBound":1,"upperBound":%d}}}`,
				vertexID("Source"), upper, vertexID("Counter"), upper, vertexID("Sink"), upper))
		}
		if code, body := put(3); code != http.StatusOK || len(body) != 0 {
			t.Fatalf("PUT 3: %d %v", code, body)
		}
		waitHealthy(t, c)
		if p := c.VertexParallelism(); p["Counter"] != 3 {
			t.Errorf("parallelism after PUT 3 = %v", p)
		}
		// More than the 4 slots: runs with what the slots allow.
		if code, _ := put(8); code != http.StatusOK {
			t.Fatalf("PUT 8: %d", code)
		}
		waitHealthy(t, c)
		if p := c.VertexParallelism(); p["Counter"] != 4 {
			t.Errorf("parallelism with 4 slots and upper bound 8 = %v", p)
		}
		code, body = put(129)
		if errs := errorsOf(t, body); code != http.StatusBadRequest || !strings.Contains(errs[0], "exceeds its maximum parallelism 128") {
			t.Errorf("PUT 129: %d %v", code, errs)
		}
		code, body = call(t, c, http.MethodPut, "/jobs/"+testJobID+"/resource-requirements",
			fmt.Sprintf(`{"%s":{"parallelism":{"lowerBound":3,"upperBound":2}}}`, vertexID("Source")))
		errs := errorsOf(t, body)
		if code != http.StatusBadRequest || !strings.Contains(errs[0], "is higher than the upper bound [2]") || !strings.Contains(errs[0], "missing job vertex ["+vertexID("Sink")+"]") {
			t.Errorf("PUT invalid: %d %v", code, errs)
		}
	})
}

func TestSavepointDisposal(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	code, body := call(t, c, http.MethodPost, "/savepoint-disposal", `{"savepoint-path":"s3://b/sp/savepoint-a1b2c3-0123456789ab"}`)
	if code != http.StatusOK || !isHexID(fmt.Sprint(body["request-id"])) {
		t.Fatalf("dispose: %d %v", code, body)
	}
	status := waitOperation(t, c, "/savepoint-disposal/"+body["request-id"].(string))
	if op := status["operation"].(map[string]any); len(op) != 0 {
		t.Errorf("successful disposal operation = %v, want {}", op)
	}
	if got := c.DisposedPaths(); len(got) != 1 || got[0] != "s3://b/sp/savepoint-a1b2c3-0123456789ab" {
		t.Errorf("DisposedPaths = %v", got)
	}

	c.Faults().FailDisposals("no such savepoint")
	_, body = call(t, c, http.MethodPost, "/savepoint-disposal", `{"savepoint-path":"s3://b/sp/other"}`)
	status = waitOperation(t, c, "/savepoint-disposal/"+body["request-id"].(string))
	if !strings.Contains(fmt.Sprint(dig(t, status, "operation", "failure-cause", "stack-trace")), "java.io.IOException: no such savepoint") {
		t.Errorf("failed disposal %v", status)
	}
	if got := c.DisposedPaths(); len(got) != 1 {
		t.Errorf("failed disposal recorded: %v", got)
	}
	if code, _ := call(t, c, http.MethodPost, "/savepoint-disposal", `{}`); code != http.StatusBadRequest {
		t.Errorf("disposal without path: %d", code)
	}
}

// Real Flink 1.20.5 and 2.2.1 name an unknown disposal trigger by OperationKey's Java identity;
// @1f is what they answered for trigger 0123456789abcdef0123456789abcdef.
func TestUnknownDisposalTriggerAnswersLikeFlink(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	for trigger, want := range map[string]string{
		"0123456789abcdef0123456789abcdef": "OperationKey@1f",
		"00000000000000010000000000000002": "OperationKey@22",
	} {
		code, body := call(t, c, http.MethodGet, "/savepoint-disposal/"+trigger, "")
		want = "org.apache.flink.runtime.rest.NotFoundException: Operation not found under key: org.apache.flink.runtime.rest.handler.async." + want + "\n"
		if errs := errorsOf(t, body); code != http.StatusNotFound || !strings.HasPrefix(errs[0], want) {
			t.Errorf("unknown disposal %s: %d %q, want 404 %q", trigger, code, errs, want)
		}
	}
}

func TestFaultInjection(t *testing.T) {
	c := newTestCluster(t, JobSpec{})
	c.Faults().FailNext(http.MethodGet, "/jobs/", http.StatusServiceUnavailable, 2)
	for i, want := range []int{503, 503, 200} {
		if code, _ := call(t, c, http.MethodGet, "/jobs/"+testJobID, ""); code != want {
			t.Errorf("request %d: %d, want %d", i, code, want)
		}
	}
	if code, _ := call(t, c, http.MethodGet, "/overview", ""); code != 200 {
		t.Errorf("non-matching path failed: %d", code)
	}

	c.Faults().FailNext("", "/overview", http.StatusInternalServerError, -1)
	for range 3 {
		code, body := call(t, c, http.MethodGet, "/overview", "")
		if errs := errorsOf(t, body); code != 500 || errs[0] != "Internal server error." || !strings.HasPrefix(errs[1], "<Exception on server side:") {
			t.Errorf("persistent fault: %d %v", code, errs)
		}
	}
	c.Faults().Clear()
	if code, _ := call(t, c, http.MethodGet, "/overview", ""); code != 200 {
		t.Errorf("after Clear: %d", code)
	}

	c.Faults().AbortNext("GET", "/config", 1)
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("abort fault panicked with %v, want http.ErrAbortHandler", v)
			}
		}()
		call(t, c, http.MethodGet, "/config", "")
	}()
}

func TestConcurrentRequests(t *testing.T) {
	c := newTestCluster(t, JobSpec{SavepointDir: "s3://b", Parallelism: 2, Config: map[string]string{"execution.checkpointing.interval": "5ms"}})
	send := func(method, path, body string) {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				switch (i + j) % 6 {
				case 0:
					send(http.MethodGet, "/jobs/"+testJobID, "")
				case 1:
					send(http.MethodGet, "/jobs/overview", "")
				case 2:
					send(http.MethodPost, "/jobs/"+testJobID+"/savepoints", `{}`)
				case 3:
					send(http.MethodGet, "/jobs/"+testJobID+"/checkpoints", "")
				case 4:
					c.SetTaskManagers(1+j%2, 2)
				case 5:
					_ = c.JobState()
				}
			}
		}()
	}
	wg.Wait()
	c.SetTaskManagers(1, 2)
	waitHealthy(t, c)
}
