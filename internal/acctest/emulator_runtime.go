package acctest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
)

// Runtime runs what Flink pods ask for. The node agent calls it after binding a pod and before
// reporting it Running; StopPod when the pod goes away (deleted, or the agent stops).
type Runtime interface {
	StartJobManager(ctx context.Context, pod *corev1.Pod, jm JobManagerLaunch) error
	StartTaskManager(ctx context.Context, pod *corev1.Pod, tm TaskManagerLaunch) error
	StopPod(pod *corev1.Pod)
}

// EmulatorRuntime runs every JobManager pod as a flinktest emulator cluster keyed by its REST
// host, and reports the application's ready TaskManager pods (and their slots) to that cluster.
// It is also the Router for the proxy: a REST host routes to the emulator while a cluster runs
// for it.
type EmulatorRuntime struct {
	emu *flinktest.Emulator

	mu   sync.Mutex
	jms  map[string]types.UID         // REST host → the JobManager pod that owns the cluster
	tms  map[string]map[types.UID]int // REST host → TaskManager pod → slots
	pods map[types.UID]emulatedPod    // every pod started

	onJobManager func(JobManagerLaunch, *flinktest.Cluster)
}

type emulatedPod struct {
	host string
	role Role
}

// NewEmulatorRuntime returns a runtime on emu (a new emulator when nil).
func NewEmulatorRuntime(emu *flinktest.Emulator) *EmulatorRuntime {
	if emu == nil {
		emu = flinktest.New()
	}
	return &EmulatorRuntime{
		emu:  emu,
		jms:  map[string]types.UID{},
		tms:  map[string]map[types.UID]int{},
		pods: map[types.UID]emulatedPod{},
	}
}

// Emulator is the emulator the clusters run in.
func (r *EmulatorRuntime) Emulator() *flinktest.Emulator { return r.emu }

// StartJobManager starts (or replaces) the emulator cluster for the JobManager's REST host.
func (r *EmulatorRuntime) StartJobManager(_ context.Context, pod *corev1.Pod, jm JobManagerLaunch) error {
	cluster, hook := r.startJobManager(pod, jm)
	if hook != nil {
		hook(jm, cluster)
	}
	return nil
}

func (r *EmulatorRuntime) startJobManager(pod *corev1.Pod, jm JobManagerLaunch) (*flinktest.Cluster, func(JobManagerLaunch, *flinktest.Cluster)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	spec := flinktest.JobSpec{
		FlinkVersion:          jm.FlinkVersion,
		JobID:                 jm.JobID,
		JobName:               jm.JobName,
		EntryClass:            jm.EntryClass,
		Parallelism:           jm.Parallelism,
		Config:                jm.Config,
		RestorePath:           jm.RestorePath,
		AllowNonRestoredState: jm.AllowNonRestoredState,
		SavepointDir:          jm.SavepointDir,
	}
	cluster := r.emu.Start(jm.RestHost, spec)
	// Like Flink, write each savepoint's files where its path points (file:// paths), so
	// the provider's snapshot store finds a real _metadata file.
	cluster.OnSavepoint(writeLocalSavepoint)
	r.jms[jm.RestHost] = pod.UID
	r.pods[pod.UID] = emulatedPod{host: jm.RestHost, role: RoleJobManager}
	n, slots := r.taskManagersLocked(jm.RestHost)
	if slots == 0 {
		slots, _ = positiveInt(jm.Config, "taskmanager.numberOfTaskSlots", 1)
	}
	cluster.SetTaskManagers(n, slots)
	return cluster, r.onJobManager
}

// SetOnJobManager registers fn, called after every JobManager pod's emulator cluster has
// started (without the runtime's lock held), with what the pod asked for and the cluster:
// e.g. for a test to fail the job of one version at start (cluster.Fail) or to inject faults
// before the provider sees the cluster. nil removes the hook. Tests that set it should
// remove it again in t.Cleanup.
func (r *EmulatorRuntime) SetOnJobManager(fn func(JobManagerLaunch, *flinktest.Cluster)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onJobManager = fn
}

// StartTaskManager registers a ready TaskManager with its application's cluster (now or when
// the JobManager comes).
func (r *EmulatorRuntime) StartTaskManager(_ context.Context, pod *corev1.Pod, tm TaskManagerLaunch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tms[tm.RestHost] == nil {
		r.tms[tm.RestHost] = map[types.UID]int{}
	}
	r.tms[tm.RestHost][pod.UID] = tm.Slots
	r.pods[pod.UID] = emulatedPod{host: tm.RestHost, role: RoleTaskManager}
	r.syncTaskManagersLocked(tm.RestHost)
	return nil
}

// StopPod stops the cluster of a JobManager pod (unless another JobManager pod has taken the
// host over since) or withdraws a TaskManager.
func (r *EmulatorRuntime) StopPod(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[pod.UID]
	if !ok {
		return
	}
	delete(r.pods, pod.UID)
	switch p.role {
	case RoleJobManager:
		if r.jms[p.host] == pod.UID {
			delete(r.jms, p.host)
			r.emu.Stop(p.host)
		}
	case RoleTaskManager:
		delete(r.tms[p.host], pod.UID)
		if len(r.tms[p.host]) == 0 {
			delete(r.tms, p.host)
		}
		r.syncTaskManagersLocked(p.host)
	}
}

func (r *EmulatorRuntime) taskManagersLocked(host string) (n, slots int) {
	for _, s := range r.tms[host] {
		n++
		if s > slots {
			slots = s
		}
	}
	return n, slots
}

func (r *EmulatorRuntime) syncTaskManagersLocked(host string) {
	if _, ok := r.jms[host]; !ok {
		return
	}
	c := r.emu.Cluster(host)
	if c == nil {
		return
	}
	n, slots := r.taskManagersLocked(host)
	if n == 0 {
		// Keep the slot size the cluster was started with; only the count matters at zero.
		slots = 1
	}
	c.SetTaskManagers(n, slots)
}

// Route implements Router: hosts with a running emulator cluster go to the emulator.
func (r *EmulatorRuntime) Route(host string) (http.Handler, bool) {
	if r.emu.Cluster(host) == nil {
		return nil, false
	}
	return checkpointFiles{r.emu}, true
}

// checkpointFiles serves the emulator and, like Flink, makes every completed checkpoint
// that a checkpoint-statistics answer reports exist on disk (file: checkpoint directories
// only) before the answer leaves: Flink writes chk-<n>/_metadata before it reports the
// checkpoint completed, so a client that reads the path (last_state upgrades) finds it.
// The emulator completes checkpoints lazily, when it answers a request, so the answer is
// the first moment a path is known. Every other request passes through unchanged.
type checkpointFiles struct{ h http.Handler }

func (c checkpointFiles) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet || !strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/checkpoints") {
		c.h.ServeHTTP(w, req)
		return
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req) // an aborted connection (Faults.AbortNext) panics through, as before
	if rec.Code == http.StatusOK {
		writeLocalCheckpoints(rec.Body.Bytes())
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// writeLocalCheckpoints materialises the completed checkpoints (not savepoints, whose
// files the OnSavepoint hook writes) of a checkpoint-statistics body.
func writeLocalCheckpoints(body []byte) {
	type stat struct {
		Status       string `json:"status"`
		IsSavepoint  bool   `json:"is_savepoint"`
		ExternalPath string `json:"external_path"`
	}
	var stats struct {
		Latest struct {
			Completed *stat `json:"completed"`
		} `json:"latest"`
		History []stat `json:"history"`
	}
	if json.Unmarshal(body, &stats) != nil {
		return
	}
	all := stats.History
	if c := stats.Latest.Completed; c != nil {
		all = append(all, stat{Status: "COMPLETED", IsSavepoint: c.IsSavepoint, ExternalPath: c.ExternalPath})
	}
	for _, s := range all {
		if s.Status != "COMPLETED" || s.IsSavepoint || s.ExternalPath == "" {
			continue
		}
		dir, ok := localPath(s.ExternalPath)
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "_metadata")); err == nil {
			continue
		}
		if os.MkdirAll(dir, 0o755) != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(dir, "state-0"), []byte("emulated checkpoint state\n"), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "_metadata"), []byte("emulated checkpoint metadata for "+s.ExternalPath+"\n"), 0o644)
	}
}

// writeLocalSavepoint materialises a savepoint at a file: path: a state file, then
// _metadata, as Flink finishes a savepoint. Other schemes are left to the test.
func writeLocalSavepoint(path string) error {
	dir, ok := localPath(path)
	if !ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "state-0"), []byte("emulated operator state\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "_metadata"), []byte("emulated savepoint metadata for "+path+"\n"), 0o644)
}

// localPath turns file:/x and file:///x into /x.
func localPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "file:")
	if !ok {
		return "", false
	}
	return "/" + strings.TrimLeft(rest, "/"), true
}
