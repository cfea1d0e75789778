package acctest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// TestEmulatorRuntimeOnJobManager: the hook sees every JobManager start, after its cluster
// exists, and can fail its job.
func TestEmulatorRuntimeOnJobManager(t *testing.T) {
	ctx := context.Background()
	rt := NewEmulatorRuntime(nil)
	host := RestHost("orders", "team-a")
	var seen []string
	rt.SetOnJobManager(func(jm JobManagerLaunch, c *flinktest.Cluster) {
		seen = append(seen, jm.Config["marker"])
		if jm.Config["marker"] == "fail" {
			c.Fail("boom")
		}
	})
	jm := JobManagerLaunch{App: "orders", Namespace: "team-a", RestHost: host, FlinkVersion: "1.20.1", JobID: testJobID,
		Config: map[string]string{"marker": "fail"}}
	if err := rt.StartJobManager(ctx, podWithUID("jm-1"), jm); err != nil {
		t.Fatal(err)
	}
	if st := rt.Emulator().Cluster(host).JobState(); st != "FAILED" {
		t.Fatalf("job %s, want FAILED by the hook", st)
	}
	rt.SetOnJobManager(nil)
	jm.Config = map[string]string{"marker": "ok"}
	if err := rt.StartJobManager(ctx, podWithUID("jm-2"), jm); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "fail" {
		t.Fatalf("hook calls %v; want only the one before it was removed", seen)
	}
}

// TestEmulatorRuntimeCheckpointFiles: a completed checkpoint reported through the router
// has its _metadata on disk when the answer arrives, like Flink's retained checkpoints.
func TestEmulatorRuntimeCheckpointFiles(t *testing.T) {
	ctx := context.Background()
	rt := NewEmulatorRuntime(nil)
	host := RestHost("orders", "team-a")
	dir := t.TempDir()
	jm := JobManagerLaunch{App: "orders", Namespace: "team-a", RestHost: host, FlinkVersion: "1.20.1", JobID: testJobID,
		Config: map[string]string{"execution.checkpointing.interval": "10ms", "state.checkpoints.dir": "file://" + dir}}
	tm := TaskManagerLaunch{App: "orders", Namespace: "team-a", RestHost: host, FlinkVersion: "1.20.1", Slots: 1}
	if err := rt.StartTaskManager(ctx, podWithUID("tm-1"), tm); err != nil {
		t.Fatal(err)
	}
	if err := rt.StartJobManager(ctx, podWithUID("jm-1"), jm); err != nil {
		t.Fatal(err)
	}
	h, ok := rt.Route(host)
	if !ok {
		t.Fatal("not routed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/jobs/"+testJobID+"/checkpoints", nil)
		req.Host = host
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET checkpoints: %d %s", rec.Code, rec.Body)
		}
		var stats struct {
			Latest struct {
				Completed *struct {
					ExternalPath string `json:"external_path"`
				} `json:"completed"`
			} `json:"latest"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &stats); err != nil {
			t.Fatal(err)
		}
		if c := stats.Latest.Completed; c != nil {
			local, _ := localPath(c.ExternalPath)
			if !strings.HasPrefix(local, dir+"/"+testJobID+"/chk-") {
				t.Fatalf("checkpoint path %s not under %s", c.ExternalPath, dir)
			}
			if _, err := os.Stat(filepath.Join(local, "_metadata")); err != nil {
				t.Fatalf("checkpoint %s reported without _metadata: %v", c.ExternalPath, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint completed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
