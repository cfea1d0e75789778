package acctest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/wait"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// These tests run the fixture job (test/e2e/fixture-job) on real Flink through the whole
// harness: kube.Render'd objects → Deployments → pods → JVMs started by the ProcessRuntime,
// reached through the harness proxy with internal/flink's client. They run only with TF_ACC=1
// and FLINK_RUNTIME=real, once per Flink version the runtime runs (FLINK_VERSION, else every
// version make tools fetched), and print their timings.

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

// eachFlinkVersion runs f as a subtest per Flink version of the runtime.
func eachFlinkVersion(t *testing.T, f func(t *testing.T, app *realApp)) {
	s, rt := realFlinkRuntime(t)
	for _, v := range rt.FlinkVersions() {
		t.Run("flink-"+v, func(t *testing.T) { f(t, newRealApp(t, s, rt, v)) })
	}
}

// realApp is one fixture application in a fresh namespace.
type realApp struct {
	t       *testing.T
	s       *Stack
	rt      *ProcessRuntime
	ctx     context.Context
	version string // Flink version, e.g. "2.2.1"
	ns, app string
	jobID   string
	kc      *kube.Client
	hc      *http.Client
	fc      *flink.Client
	t0      time.Time
	step    time.Time
	timings []string
}

func newRealApp(t *testing.T, s *Stack, rt *ProcessRuntime, version string) *realApp {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	a := &realApp{
		t: t, s: s, rt: rt, ctx: ctx, version: version,
		ns: Namespace(t), app: "counter", jobID: "00000000000000000000000000c0ffee",
		kc: &kube.Client{Kube: s.Kube(), Logf: t.Logf},
		t0: time.Now(),
	}
	a.step = a.t0
	a.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, s.ProxyURL()))}}
	a.fc = flink.New(a.ns+"/"+a.app, kube.RestURL(a.app, a.ns), a.hc)
	t.Cleanup(a.printTimings)
	return a
}

// mark records how long the step since the last mark took.
func (a *realApp) mark(what string) {
	line := fmt.Sprintf("%-48s %6.1fs (at %5.1fs)", what, time.Since(a.step).Seconds(), time.Since(a.t0).Seconds())
	a.timings = append(a.timings, line)
	a.t.Log(line)
	a.step = time.Now()
}

func (a *realApp) printTimings() {
	fmt.Fprintf(os.Stderr, "--- %s: real Flink %s timings ---\n%s\n", a.t.Name(), a.version, strings.Join(a.timings, "\n"))
	for _, st := range a.rt.Starts() {
		if strings.HasPrefix(st.Pod, a.ns+"/") {
			fmt.Fprintf(os.Stderr, "  %-14s %-40s BashJavaUtils %4.2fs, then ready after %5.2fs (registered with JM: %v)\n",
				st.Role, strings.TrimPrefix(st.Pod, a.ns+"/"), st.Params.Seconds(), st.Ready.Seconds(), st.Registered)
		}
	}
}

// version is the application version running entry class (the fixture jar, no program
// arguments: kube.Render puts them after --jars, which Flink's standalone-job parser — --jars
// takes any number of values — would take for more jars; the fixture's defaults are 50
// events/s and a checkpoint every second).
func (a *realApp) spec(label, entryClass string) spec.Version {
	return spec.Version{
		Namespace: a.ns, Application: a.app, Label: label,
		Image:        "flink:" + a.version + "-java17",
		JarURI:       FixtureJarURI,
		EntryClass:   entryClass,
		FlinkVersion: majorMinor(a.version),
		Parallelism:  1,
		FlinkConfiguration: map[string]string{
			"metrics.fetcher.update-interval": "1000",
		},
		// The process runtime sizes the JVMs itself; these only shape the pods.
		JobManager:  spec.JobManager{CPU: 1, Memory: "1600m"},
		TaskManager: spec.TaskManager{CPU: 1, Memory: "1728m", TaskSlots: 1},
	}
}

// deploy renders and applies the cluster and waits until both Deployments rolled out (the
// JobManager's REST API answers, the TaskManager runs).
func (a *realApp) deploy(v spec.Version, restore string, allowNonRestored bool) {
	a.t.Helper()
	objs, err := kube.Render(spec.Deployment{Namespace: a.ns, Application: a.app, Version: v, JobID: a.jobID,
		RestorePath: restore, AllowNonRestoredState: allowNonRestored}, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.kc.Apply(a.ctx, objs); err != nil {
		a.t.Fatal(err)
	}
	if err := a.kc.WaitRolledOut(a.ctx, a.ns, a.app, nil); err != nil {
		a.t.Fatalf("%v\n%s", err, a.pods())
	}
	a.mark(fmt.Sprintf("%s (%s) rolled out", v.Label, v.EntryClass[strings.LastIndex(v.EntryClass, ".")+1:]))
}

// job waits until the job's state satisfies done; a globally terminal state that done does not
// accept fails the test.
func (a *realApp) job(what string, done func(flink.JobDetails) bool) flink.JobDetails {
	a.t.Helper()
	var j flink.JobDetails
	var last string
	err := wait.Until(a.ctx, func(ctx context.Context) (bool, error) {
		var err error
		j, err = a.fc.Job(ctx, a.jobID)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var vs []string
		for _, v := range j.Vertices {
			vs = append(vs, v.Name+"="+v.Status)
		}
		last = j.State + " " + strings.Join(vs, ", ")
		if done(j) {
			return true, nil
		}
		if flink.IsGloballyTerminal(j.State) {
			return false, fmt.Errorf("job ended %s", j.State)
		}
		return false, nil
	}, flink.IsRetryable)
	if err != nil {
		a.t.Fatalf("job %s: %s: %v (last: %s)\n%s", a.jobID, what, err, last, a.pods())
	}
	a.mark(what)
	return j
}

func (a *realApp) healthy() { a.t.Helper(); a.job("job RUNNING, all tasks RUNNING", flink.JobHealthy) }

// count waits until the counter satisfies cond.
func (a *realApp) count(what string, cond func(FixtureCount) bool) FixtureCount {
	a.t.Helper()
	var c FixtureCount
	var last error
	err := wait.Until(a.ctx, func(ctx context.Context) (bool, error) {
		var err error
		c, err = ReadFixtureCount(ctx, a.hc, kube.RestURL(a.app, a.ns), a.jobID)
		last = err
		return err == nil && cond(c), nil
	}, flink.IsRetryable)
	if err != nil {
		a.t.Fatalf("%s: %v (last count %+v, last error %v)", what, err, c, last)
	}
	a.mark(fmt.Sprintf("%s (%d, restored %d)", what, c.Counted, c.Restored))
	return c
}

// stopWithSavepoint stops the job with a savepoint in the harness's snapshot directory and
// checks that Flink wrote its _metadata.
func (a *realApp) stopWithSavepoint() string {
	a.t.Helper()
	target := "file://" + filepath.Join(SnapshotDir(a.t), a.ns)
	trigger, err := a.fc.StopWithSavepoint(a.ctx, a.jobID, flink.StopRequest{TargetDirectory: target})
	if err != nil {
		a.t.Fatal(err)
	}
	location, err := flink.WaitForSavepoint(a.ctx, a.fc, a.jobID, trigger)
	if err != nil {
		a.t.Fatalf("%v\n%s", err, a.pods())
	}
	a.mark("stop-with-savepoint completed")
	dir, ok := localPath(location)
	if !ok {
		a.t.Fatalf("savepoint location %q is not a file: path", location)
	}
	if st, err := os.Stat(filepath.Join(dir, "_metadata")); err != nil || st.Size() == 0 {
		a.t.Fatalf("savepoint %s: no _metadata on disk: %v", location, err)
	}
	a.job("job FINISHED", func(j flink.JobDetails) bool { return j.State == flink.JobFinished })
	a.t.Logf("savepoint %s", location)
	return location
}

// pods describes the namespace's pods and the tails of their Flink logs, for failures.
func (a *realApp) pods() string {
	list, err := a.s.Kube().CoreV1().Pods(a.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range list.Items {
		fmt.Fprintf(&b, "pod %s: %s %s %s\n", p.Name, p.Status.Phase, p.Status.Reason, truncate(p.Status.Message, 600))
		for _, f := range []string{"jobmanager.log", "taskmanager.log"} {
			if l := filepath.Join(a.rt.PodDir(&p), f); fileExists(l) {
				fmt.Fprintf(&b, "--- %s ---\n%s", l, tailFile(l, 25))
			}
		}
	}
	return b.String()
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRealFlinkSavepointRestore: the job reaches RUNNING through the proxy, its counter grows,
// a stop-with-savepoint writes _metadata, and a new cluster restoring that savepoint
// (execution.savepoint.path on 1.x, execution.state-recovery.path on 2.x, as kube.Render
// writes them) continues counting from where the old one stopped.
func TestRealFlinkSavepointRestore(t *testing.T) {
	eachFlinkVersion(t, func(t *testing.T, a *realApp) {
		a.deploy(a.spec("v1", FixtureJobClass), "", false)
		a.healthy()
		first := a.count("counter readable", func(c FixtureCount) bool { return c.Counted > 0 })
		if first.Restored != 0 {
			t.Errorf("a job started without a savepoint reports %d restored events", first.Restored)
		}
		before := a.count("counter grows", func(c FixtureCount) bool { return c.Counted > first.Counted })
		sp := a.stopWithSavepoint()

		a.deploy(a.spec("v2", FixtureJobClass), sp, false)
		a.healthy()
		after := a.count("counter after restore", func(c FixtureCount) bool { return c.Counted > 0 })
		if after.Restored < before.Counted || after.Counted < after.Restored {
			t.Fatalf("restored job: %+v, want restored >= %d (counted before the savepoint) and counted >= restored: state was not restored",
				after, before.Counted)
		}
		a.mark("total")
	})
}

// TestRealFlinkFixtureVariants checks what the fixture's versions promise: CounterJobPlus
// restores a CounterJob savepoint as is; CounterJobMinus (no "tracker") cannot restore one
// without allowNonRestoredState, and continues the count with it.
func TestRealFlinkFixtureVariants(t *testing.T) {
	eachFlinkVersion(t, func(t *testing.T, a *realApp) {
		a.deploy(a.spec("v1", FixtureJobClass), "", false)
		a.healthy()
		a.count("v1 counting", func(c FixtureCount) bool { return c.Counted > 0 })
		sp1 := a.stopWithSavepoint()

		a.deploy(a.spec("plus", FixtureJobPlusClass), sp1, false)
		a.healthy()
		plus := a.count("plus continues the count", func(c FixtureCount) bool { return c.Restored > 0 && c.Counted > c.Restored })
		sp2 := a.stopWithSavepoint()

		objs, err := kube.Render(spec.Deployment{Namespace: a.ns, Application: a.app, Version: a.spec("minus-strict", FixtureJobMinusClass),
			JobID: a.jobID, RestorePath: sp2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.kc.Apply(a.ctx, objs); err != nil {
			t.Fatal(err)
		}
		a.refusesUnmappedState()

		// allowNonRestoredState must reach a standalone application cluster as arguments:
		// StandaloneApplicationClusterEntryPoint overwrites
		// execution.{savepoint,state-recovery}.ignore-unclaimed-state (and the claim mode) in
		// the configuration with what its command line says (--fromSavepoint …
		// --allowNonRestoredState); kube.Render puts them there.
		objs, err = kube.Render(spec.Deployment{Namespace: a.ns, Application: a.app, Version: a.spec("minus", FixtureJobMinusClass),
			JobID: a.jobID, RestorePath: sp2, AllowNonRestoredState: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if args := strings.Join(objs.JobManager.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--allowNonRestoredState") {
			t.Fatalf("kube.Render does not pass --allowNonRestoredState to the JobManager: args %q", args)
		}
		if err := a.kc.Apply(a.ctx, objs); err != nil {
			t.Fatal(err)
		}
		if err := a.kc.WaitRolledOut(a.ctx, a.ns, a.app, nil); err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		a.mark("minus (--allowNonRestoredState) rolled out")
		a.healthy()
		minus := a.count("minus continues the count", func(c FixtureCount) bool { return c.Restored > 0 && c.Counted > c.Restored })
		if minus.Restored < plus.Counted {
			t.Fatalf("minus restored %d events, want at least the %d plus had counted", minus.Restored, plus.Counted)
		}
		a.mark("total")
	})
}

// refusesUnmappedState waits until Flink refuses a job whose savepoint holds state of an
// operator it no longer has. Up to 2.2 the JobManager's entrypoint fails fatally and the JVM
// exits (whatever execution.shutdown-on-application-finish says): the agent restarts the
// container in the pod, which crash-loops, as a kubelet's would. From 2.3 (applications,
// FLIP-549) the JobManager stays up and reports the job FAILED, with Flink's hint in its
// exceptions.
func (a *realApp) refusesUnmappedState() {
	a.t.Helper()
	if versionAtLeast(a.version, 2, 3) {
		eventually(a.t, 3*time.Minute, "the job FAILED because state cannot be mapped", func() (bool, string) {
			j, err := a.fc.Job(a.ctx, a.jobID)
			if err != nil || j.State != flink.JobFailed {
				return false, fmt.Sprintf("%s %v", j.State, err)
			}
			ex, err := a.fc.JobExceptions(a.ctx, a.jobID)
			return err == nil && strings.Contains(ex.RootException, "allowNonRestoredState"), firstLine(ex.RootException)
		})
		a.mark("minus without allowNonRestoredState: job FAILED, JobManager up")
		return
	}
	eventually(a.t, 3*time.Minute, "a JobManager container crashes because state cannot be mapped", func() (bool, string) {
		list, err := a.s.Kube().CoreV1().Pods(a.ns).List(a.ctx, metav1.ListOptions{LabelSelector: kube.LabelComponent + "=" + kube.ComponentJobManager})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, p := range list.Items {
			seen = append(seen, p.Name+"="+string(p.Status.Phase))
			if p.Status.Phase == corev1.PodFailed || len(p.Status.ContainerStatuses) != 1 {
				continue
			}
			last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
			if last == nil || last.ExitCode == 0 {
				continue
			}
			log, _ := os.ReadFile(filepath.Join(a.rt.PodDir(&p), "jobmanager.log"))
			if strings.Contains(string(log), "allowNonRestoredState") {
				return true, ""
			}
		}
		return false, strings.Join(seen, ", ")
	})
	a.mark("minus without allowNonRestoredState: JM container crash-loops")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestRealFlinkProcessExitRestartsContainerInPod: a JVM that dies is restarted in the same pod,
// as a kubelet restarts a container: its status shows one restart and the last termination
// (exit code 137 for SIGKILL), and the job runs again.
func TestRealFlinkProcessExitRestartsContainerInPod(t *testing.T) {
	eachFlinkVersion(t, func(t *testing.T, a *realApp) {
		v1 := a.spec("v1", FixtureJobClass)
		// The REST API's metric fetcher starts no new round before the last one completed, and
		// a query to a dead TaskManager only ends at web.timeout (Flink: 10 minutes): until
		// then every metric read returns the values from before the TaskManager died.
		v1.FlinkConfiguration["web.timeout"] = "15000"
		a.deploy(v1, "", false)
		a.healthy()
		// A completed checkpoint, so that the failover restores state.
		if err := wait.Until(a.ctx, func(ctx context.Context) (bool, error) {
			cp, err := a.fc.Checkpoints(ctx, a.jobID)
			return err == nil && cp.Counts.Completed > 0, nil
		}, flink.IsRetryable); err != nil {
			t.Fatalf("no completed checkpoint: %v", err)
		}
		a.mark("a checkpoint completed")
		tms, err := a.s.Kube().CoreV1().Pods(a.ns).List(a.ctx, metav1.ListOptions{LabelSelector: kube.LabelComponent + "=" + kube.ComponentTaskManager})
		if err != nil || len(tms.Items) != 1 {
			t.Fatalf("TaskManager pods: %v %d", err, len(tms.Items))
		}
		victim := tms.Items[0]
		pid := a.rt.PID(&victim)
		if pid == 0 {
			t.Fatalf("no process for pod %s", victim.Name)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "killed TaskManager restarted in its pod", func() (bool, string) {
			p, err := a.s.Kube().CoreV1().Pods(a.ns).Get(a.ctx, victim.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			cs := p.Status.ContainerStatuses
			ok := p.Status.Phase == corev1.PodRunning && len(cs) == 1 && cs[0].Ready && cs[0].RestartCount == 1 &&
				cs[0].LastTerminationState.Terminated != nil && cs[0].LastTerminationState.Terminated.ExitCode == 137
			return ok, fmt.Sprintf("%s %+v", p.Status.Phase, cs)
		})
		a.mark("killed TaskManager restarted in its pod")
		if pid := a.rt.PID(&victim); pid == 0 {
			t.Fatalf("no process runs for pod %s after the restart", victim.Name)
		}
		if err := a.kc.WaitRolledOut(a.ctx, a.ns, a.app, nil); err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		if tms, err := a.s.Kube().CoreV1().Pods(a.ns).List(a.ctx, metav1.ListOptions{LabelSelector: kube.LabelComponent + "=" + kube.ComponentTaskManager}); err != nil ||
			len(tms.Items) != 1 || tms.Items[0].UID != victim.UID {
			t.Fatalf("TaskManager pods after the restart: %v %+v, want only %s", err, tms, victim.Name)
		}
		// The job fails over to the restarted TaskManager and restores its latest checkpoint.
		a.count("job restored from a checkpoint, counting", func(c FixtureCount) bool { return c.Restored > 0 && c.Counted > c.Restored })
		a.healthy()
		a.mark("total")
	})
}
