package acctest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

func podWithUID(uid string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
}

func waitRunning(t *testing.T, c *flinktest.Cluster, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for running(c) != want {
		if time.Now().After(deadline) {
			t.Fatalf("running=%v, want %v: %s %v", running(c), want, c.JobState(), c.VertexStates())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEmulatorRuntime(t *testing.T) {
	ctx := context.Background()
	rt := NewEmulatorRuntime(nil)
	emu := rt.Emulator()
	host := RestHost("orders", "team-a")
	jm := JobManagerLaunch{App: "orders", Namespace: "team-a", RestHost: host, FlinkVersion: "1.20.1",
		JobID: testJobID, EntryClass: "C", Parallelism: 2, Config: map[string]string{"parallelism.default": "2"}}
	tm := TaskManagerLaunch{App: "orders", Namespace: "team-a", RestHost: host, FlinkVersion: "1.20.1", Slots: 1}

	// A TaskManager that comes first is counted once the JobManager starts.
	if err := rt.StartTaskManager(ctx, podWithUID("tm-1"), tm); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.Route(host); ok {
		t.Fatal("routed before any JobManager")
	}
	if err := rt.StartJobManager(ctx, podWithUID("jm-1"), jm); err != nil {
		t.Fatal(err)
	}
	c := emu.Cluster(host)
	if c == nil || c.JobID() != testJobID {
		t.Fatalf("cluster %v", c)
	}
	h, ok := rt.Route(host)
	if !ok {
		t.Fatal("not routed")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/jobs/overview", nil)
	req.Host = host
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /jobs/overview: %d %s", rec.Code, rec.Body)
	}
	time.Sleep(50 * time.Millisecond)
	waitRunning(t, c, false) // one slot for parallelism 2

	if err := rt.StartTaskManager(ctx, podWithUID("tm-2"), tm); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, c, true)

	// Losing a TaskManager takes the job's tasks back to waiting.
	rt.StopPod(podWithUID("tm-1"))
	waitRunning(t, c, false)

	// A second JobManager pod for the same host (rolling replacement) takes the host over;
	// stopping the old pod must not stop the new cluster.
	if err := rt.StartJobManager(ctx, podWithUID("jm-2"), jm); err != nil {
		t.Fatal(err)
	}
	c2 := emu.Cluster(host)
	if c2 == c {
		t.Fatal("cluster not replaced")
	}
	rt.StopPod(podWithUID("jm-1"))
	if emu.Cluster(host) != c2 {
		t.Fatal("stopping the replaced JobManager stopped its successor")
	}
	rt.StopPod(podWithUID("jm-2"))
	if emu.Cluster(host) != nil {
		t.Fatal("cluster still served after its JobManager stopped")
	}
	if _, ok := rt.Route(host); ok {
		t.Fatal("routed after stop")
	}
	rt.StopPod(podWithUID("unknown")) // no-op
}
