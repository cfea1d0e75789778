package acctest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// realFlinkRuntime skips unless the package's stack runs real Flink.
func realFlinkRuntime(t *testing.T) (*Stack, *ProcessRuntime) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" || !strings.EqualFold(os.Getenv("FLINK_RUNTIME"), "real") {
		t.Skip("real-Flink test: set TF_ACC=1 and FLINK_RUNTIME=real (optionally FLINK_VERSION=<a version fetched by make tools>)")
	}
	s := stackFor(t)
	rt, ok := s.Runtime().(*ProcessRuntime)
	if !ok {
		t.Skipf("real-Flink test: the test cluster runs %T, not the process runtime", s.Runtime())
	}
	return s, rt
}

// TestRealFlinkSavepointRestore runs the fixture job on real Flink through the whole harness:
// kube.Render'd objects → Deployments → pods → JVMs; the job reaches RUNNING through the proxy,
// its counter grows, a stop-with-savepoint writes _metadata, and a new cluster restoring that
// savepoint continues counting from where the old one stopped.
func TestRealFlinkSavepointRestore(t *testing.T) {
	s, rt := realFlinkRuntime(t)
	for _, v := range rt.FlinkVersions() {
		t.Run("flink-"+v, func(t *testing.T) { testSavepointRestore(t, s, rt, v) })
	}
}

func testSavepointRestore(t *testing.T, s *Stack, rt *ProcessRuntime, version string) {
	ns := Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t0 := time.Now()
	var timings []string
	mark := func(what string, since time.Time) time.Time {
		line := fmt.Sprintf("%-44s %6.1fs (at %5.1fs)", what, time.Since(since).Seconds(), time.Since(t0).Seconds())
		timings = append(timings, line)
		t.Log(line)
		return time.Now()
	}
	defer func() {
		fmt.Fprintf(os.Stderr, "--- real Flink %s timings ---\n%s\n", version, strings.Join(timings, "\n"))
		for _, st := range rt.Starts() {
			if strings.HasPrefix(st.Pod, ns+"/") {
				fmt.Fprintf(os.Stderr, "  %-11s %-50s BashJavaUtils %5.2fs, ready after %5.2fs (registered %v)\n",
					st.Role, st.Pod, st.Params.Seconds(), st.Ready.Seconds(), st.Registered)
			}
		}
	}()

	const app = "counter"
	jobID := "00000000000000000000000000c0ffee"
	kc := &kube.Client{Kube: s.Kube(), Logf: t.Logf}
	version1 := spec.Version{
		Namespace: ns, Application: app, Label: "v1",
		Image:        "flink:" + version + "-java17",
		JarURI:       FixtureJarURI,
		EntryClass:   FixtureJobClass,
		// No program arguments: kube.Render puts them after --jars, which Flink's
		// standalone-job parser (--jars takes any number of values) would take for more jars.
		// The fixture's defaults are 50 events/s and a checkpoint every second.
		FlinkVersion: majorMinor(version),
		Parallelism:  1,
		FlinkConfiguration: map[string]string{
			"metrics.fetcher.update-interval": "1000",
		},
		JobManager:  spec.JobManager{CPU: 1, Memory: "1600m"},
		TaskManager: spec.TaskManager{CPU: 1, Memory: "1728m", TaskSlots: 1},
	}
	deploy := func(d spec.Deployment) {
		t.Helper()
		objs, err := kube.Render(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := kc.Apply(ctx, objs); err != nil {
			t.Fatal(err)
		}
		if err := kc.WaitRolledOut(ctx, ns, app, func(line string) { t.Logf("rollout: %s", line) }); err != nil {
			t.Fatalf("%v\n%s", err, podSummary(t, s, ns))
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, s.ProxyURL()))}}
	fc := flink.New(ns+"/"+app, kube.RestURL(app, ns), hc)
	waitHealthy := func() {
		t.Helper()
		var last string
		err := flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
			j, err := fc.Job(ctx, jobID)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			var vs []string
			for _, v := range j.Vertices {
				vs = append(vs, v.Name+"="+v.Status)
			}
			last = j.State + " " + strings.Join(vs, ", ")
			if flink.IsGloballyTerminal(j.State) {
				return false, fmt.Errorf("job ended %s", j.State)
			}
			return flink.JobHealthy(j), nil
		}, flink.Backoff{})
		if err != nil {
			t.Fatalf("job %s not healthy: %v (last: %s)\n%s", jobID, err, last, podSummary(t, s, ns))
		}
	}
	readCount := func(what string, cond func(FixtureCount) bool) FixtureCount {
		t.Helper()
		var c FixtureCount
		var last error
		err := flink.WaitFor(ctx, func(ctx context.Context) (bool, error) {
			var err error
			c, err = ReadFixtureCount(ctx, hc, kube.RestURL(app, ns), jobID)
			last = err
			return err == nil && cond(c), nil
		}, flink.Backoff{})
		if err != nil {
			t.Fatalf("%s: %v (last count %+v, last error %v)", what, err, c, last)
		}
		return c
	}

	// 1. v1 from empty state.
	step := time.Now()
	deploy(spec.Deployment{Namespace: ns, Application: app, Version: version1, JobID: jobID})
	step = mark("v1 rolled out (JM REST up, TM registered)", step)
	waitHealthy()
	step = mark("job RUNNING, all tasks RUNNING", step)
	first := readCount("counter metric", func(c FixtureCount) bool { return c.Counted > 0 })
	if first.Restored != 0 {
		t.Errorf("a job started without a savepoint reports %d restored events", first.Restored)
	}
	step = mark(fmt.Sprintf("counter readable (%d)", first.Counted), step)
	second := readCount("counter grows", func(c FixtureCount) bool { return c.Counted > first.Counted })
	step = mark(fmt.Sprintf("counter grew (%d → %d)", first.Counted, second.Counted), step)

	// 2. Stop with a savepoint into the harness's snapshot directory.
	target := "file://" + filepath.Join(SnapshotDir(t), ns)
	trigger, err := fc.StopWithSavepoint(ctx, jobID, flink.StopRequest{TargetDirectory: target})
	if err != nil {
		t.Fatal(err)
	}
	location, err := flink.WaitForSavepoint(ctx, fc, jobID, trigger)
	if err != nil {
		t.Fatalf("%v\n%s", err, podSummary(t, s, ns))
	}
	step = mark("stop-with-savepoint completed", step)
	dir, ok := localPath(location)
	if !ok {
		t.Fatalf("savepoint location %q is not a file: path", location)
	}
	if st, err := os.Stat(filepath.Join(dir, "_metadata")); err != nil || st.Size() == 0 {
		t.Fatalf("savepoint %s: no _metadata on disk: %v", location, err)
	}
	j, err := fc.Job(ctx, jobID)
	if err != nil || j.State != flink.JobFinished {
		t.Fatalf("after stop-with-savepoint the job is %q (%v), want FINISHED", j.State, err)
	}
	t.Logf("savepoint %s", location)

	// 3. A new cluster restoring the savepoint continues the count.
	step = time.Now()
	version2 := version1
	version2.Label = "v2"
	deploy(spec.Deployment{Namespace: ns, Application: app, Version: version2, JobID: jobID, RestorePath: location})
	step = mark("restored cluster rolled out", step)
	waitHealthy()
	step = mark("restored job RUNNING, all tasks RUNNING", step)
	restored := readCount("counter metric after restore", func(c FixtureCount) bool { return c.Counted > 0 })
	if restored.Restored < second.Counted {
		t.Fatalf("restored job starts from %d events, want at least the %d counted before the savepoint (state was not restored)",
			restored.Restored, second.Counted)
	}
	if restored.Counted < restored.Restored {
		t.Fatalf("restored job counted %d < restored %d", restored.Counted, restored.Restored)
	}
	mark(fmt.Sprintf("counter continued (%d before stop, restored %d, now %d)", second.Counted, restored.Restored, restored.Counted), step)
	mark("total", t0)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// podSummary describes the namespace's pods for failure messages.
func podSummary(t *testing.T, s *Stack, ns string) string {
	t.Helper()
	list, err := s.Kube().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range list.Items {
		fmt.Fprintf(&b, "pod %s: %s %s %s\n", p.Name, p.Status.Phase, p.Status.Reason, truncate(p.Status.Message, 600))
		if rt, ok := s.Runtime().(*ProcessRuntime); ok && p.Status.Phase != corev1.PodPending {
			for _, f := range []string{"jobmanager.log", "taskmanager.log"} {
				if l := filepath.Join(rt.PodDir(&p), f); fileExists(l) {
					fmt.Fprintf(&b, "--- %s ---\n%s", l, tailFile(l, 25))
				}
			}
		}
	}
	return b.String()
}
