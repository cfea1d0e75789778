package acctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// Unit tests of the process runtime's pure parts; the real-Flink tests are in
// process_runtime_test.go.

func TestWriteFlinkConfigRoundTrips(t *testing.T) {
	dir := t.TempDir()
	conf := map[string]string{
		"$internal.pipeline.job-id":       "00000000000000000000000000c0ffee",
		"execution.state-recovery.path":   "file:/tmp/sp/savepoint-1 #x",
		"pipeline.name":                   "1.10",
		"rest.port":                       "12345",
		"env.java.opts.all":               `-Da="b c" -Dd: e`,
		"execution.checkpointing.timeout": "10 min",
	}
	if err := writeFlinkConfig(dir, "2.2.1", conf); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfigYAML(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, conf) {
		t.Errorf("config.yaml reads back as\n%v\nwant\n%v\nfile:\n%s", got, conf, b)
	}
}

// Flink 1.18 reads flink-conf.yaml (key: value lines), not config.yaml.
func TestWriteFlinkConfigLegacyFileFor118(t *testing.T) {
	dir := t.TempDir()
	conf := map[string]string{
		"execution.savepoint.path": "file:/tmp/sp/savepoint-1",
		"pipeline.name":            "1.10",
		"env.java.opts.all":        `-Da="b c" -Dd: e`,
	}
	if err := writeFlinkConfig(dir, "1.18.1", conf); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
		t.Error("config.yaml written for Flink 1.18")
	}
	b, err := os.ReadFile(filepath.Join(dir, "flink-conf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ParseLegacyConfig(string(b)); !reflect.DeepEqual(got, conf) {
		t.Errorf("flink-conf.yaml reads back as\n%v\nwant\n%v\nfile:\n%s", got, conf, b)
	}
}

// The JVM options come from the distribution's default file of its version.
func TestReadDistConfigPicksTheVersionsFile(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	legacy := "env.java.opts.all: --add-opens=java.base/java.lang=ALL-UNNAMED\n"
	if err := os.WriteFile(filepath.Join(home, "conf", "flink-conf.yaml"), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := readDistConfig(home, "1.18.1")
	if err != nil || conf["env.java.opts.all"] != "--add-opens=java.base/java.lang=ALL-UNNAMED" {
		t.Errorf("1.18: %v, %v", conf, err)
	}
	if _, err := readDistConfig(home, "1.19.3"); err == nil || !strings.Contains(err.Error(), "config.yaml") {
		t.Errorf("1.19 without conf/config.yaml: %v, want an error naming config.yaml", err)
	}
}

// FLINK_VERSION names releases, or minors for their newest fetched release.
func TestFlinkVersionEnvNamesReleasesOrMinors(t *testing.T) {
	cache := t.TempDir()
	for _, v := range []string{"1.18.1", "1.20.4", "1.20.5", "2.3.0"} {
		lib := filepath.Join(FlinkDistHome(cache, v), "lib")
		if err := os.MkdirAll(lib, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lib, "flink-dist-"+v+".jar"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FLINK_VERSION", "1.18 1.20,2.3.0 1.20.4")
	got, err := RealFlinkVersions(cache)
	if want := []string{"1.18.1", "1.20.5", "2.3.0", "1.20.4"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("RealFlinkVersions = %q, %v; want %q", got, err, want)
	}
	for _, missing := range []string{"1.2", "2.2", "1.20.1"} {
		t.Setenv("FLINK_VERSION", missing)
		if _, err := RealFlinkVersions(cache); err == nil || !strings.Contains(err.Error(), "not fetched") {
			t.Errorf("FLINK_VERSION=%s: %v, want not fetched", missing, err)
		}
	}
}

func TestJobManagerArgsMapJars(t *testing.T) {
	r := &ProcessRuntime{opts: ProcessRuntimeOptions{Jars: map[string]string{"other.jar": "/x/other.jar"}}}
	d := &flinkDist{version: "2.2.1", fixtureJar: "/cache/fixture/2.2.1/fixture-job.jar"}
	for _, tc := range []struct {
		args, want []string
	}{
		{
			[]string{"standalone-job", "--job-classname", "C", "--job-id", "00000000000000000000000000c0ffee", "--jars", FixtureJarURI, "--rate", "5"},
			[]string{"--job-classname", "C", "--job-id", "00000000000000000000000000c0ffee", "--jars", "local:///cache/fixture/2.2.1/fixture-job.jar", "--rate", "5"},
		},
		{
			[]string{"standalone-job", "--jars=local:///opt/flink/usrlib/a.jar,local:///opt/flink/usrlib/other.jar", "-j", "C"},
			[]string{"--jars=local:///cache/fixture/2.2.1/fixture-job.jar,local:///x/other.jar", "-j", "C"},
		},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: FlinkContainerName, Args: tc.args}}}}
		pod.Labels = map[string]string{LabelAppName: "app"}
		jm, err := BuildJobManagerLaunch(pod, map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := r.jobManagerArgs(pod, jm, d)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("args %q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
	if _, err := r.resolveJar("s3://bucket/job.jar", d); err == nil {
		t.Error("an s3:// jar resolved")
	}
}

func TestReplacePrefixAndDefaults(t *testing.T) {
	conf := map[string]string{"taskmanager.memory.flink.size": "4g", "taskmanager.memory.process.size": "8g", "a": "1"}
	replacePrefix(conf, "taskmanager.memory.", map[string]string{"taskmanager.memory.process.size": "1g"})
	setDefaults(conf, map[string]string{"a": "2", "b": "3"})
	want := map[string]string{"taskmanager.memory.process.size": "1g", "a": "1", "b": "3"}
	if !reflect.DeepEqual(conf, want) {
		t.Errorf("got %v, want %v", conf, want)
	}
	if got := javaOptsOf(map[string]string{"env.java.opts.all": "-Da=1  -Db=2", "env.java.opts.jobmanager": "-Dc=3", "env.java.opts.taskmanager": "-Dd=4"}, "jobmanager"); !reflect.DeepEqual(got, []string{"-Da=1", "-Db=2", "-Dc=3"}) {
		t.Errorf("javaOptsOf: %q", got)
	}
}

func TestFailureSummary(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jobmanager.log")
	log := strings.Join([]string{
		"12:00:00,000 INFO  x [] - starting",
		"12:00:01,000 ERROR org.apache.flink.runtime.entrypoint.ClusterEntrypoint [] - Fatal error occurred in the cluster entrypoint.",
		"java.util.concurrent.CompletionException: boom",
		"\tat a.b(C.java:1)",
		"Caused by: java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint x. Cannot map ... --allowNonRestoredState option",
		"\tat a.b(C.java:2)",
		"WARNING: System::setSecurityManager will be removed in a future release",
	}, "\n")
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	s := failureSummary(p)
	if !strings.Contains(s, "Fatal error") || !strings.Contains(s, "allowNonRestoredState") || strings.Contains(s, "WARNING") {
		t.Errorf("summary %q", s)
	}
}

type exitRuntime struct{ Runtime }

func (exitRuntime) SetPodExitHandler(func(*corev1.Pod, int, string)) {}

// podOfReplicaSet is a pod named name (its UID uid) of ReplicaSet rs-1.
func podOfReplicaSet(name, uid string) *corev1.Pod {
	ctrl := true
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid), OwnerReferences: []metav1.OwnerReference{
		{Kind: "ReplicaSet", Name: "rs", UID: "rs-1", Controller: &ctrl},
	}}}
}

func TestCrashBackoffIsPerPodAsAKubeletKeepsIt(t *testing.T) {
	a := NewNodeAgent(nil, exitRuntime{}, NodeAgentOptions{})
	now := time.Now()
	// crash starts the pod's container (again) and lets it fail after running for ran.
	crash := func(p *corev1.Pod, ran time.Duration) time.Duration {
		key := p.Namespace + "/" + p.Name
		if wait := a.restartWait(key, p, now); wait != 0 {
			t.Fatalf("%s started while it still had to wait %s", key, wait)
		}
		a.noteStart(key, p)
		wait := a.noteCrash(key, p, podExit{code: 2, reason: "Error", started: now.Add(-ran)}, now)
		now = now.Add(wait)
		return wait
	}

	// One pod's container that keeps crashing: restarted at once, then after a doubling back-off.
	crashing := podOfReplicaSet("jm-a", "uid-a")
	for i, want := range []time.Duration{0, 5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 80 * time.Second} {
		if got := crash(crashing, time.Second); got != want {
			t.Errorf("crash %d of one pod: restart after %s, want %s", i+1, got, want)
		}
	}
	if got := a.restartCount("ns/jm-a", crashing); got != 6 {
		t.Errorf("restart count %d after 7 crashes (the last not restarted yet), want 6", got)
	}
	a.noteCrash("ns/jm-a", crashing, podExit{code: 2, reason: "Error"}, now)
	if got := a.restartWait("ns/jm-a", crashing, now.Add(time.Second)); got != 79*time.Second {
		t.Errorf("one second into the back-off: wait %s, want 79s", got)
	}

	// A new pod of the same ReplicaSet (the rollback's, say) starts at once, as does a new pod
	// under the same name.
	if got := a.restartWait("ns/jm-b", podOfReplicaSet("jm-b", "uid-b"), now); got != 0 {
		t.Errorf("a new pod of a ReplicaSet whose pods crashed waits %s, want 0", got)
	}
	if got := a.restartWait("ns/jm-a", podOfReplicaSet("jm-a", "uid-a2"), now); got != 0 {
		t.Errorf("a new pod under a crashed pod's name waits %s, want 0", got)
	}

	// A container that ran for a while before it failed starts the series again.
	long := podOfReplicaSet("tm", "uid-tm")
	crash(long, 0)
	crash(long, 0)
	if got := crash(long, 2*crashBackoffReset); got != 0 {
		t.Errorf("after a long run: restart after %s, want at once", got)
	}
}

func TestCrashedContainerStatusIsAKubelets(t *testing.T) {
	a := NewNodeAgent(nil, exitRuntime{}, NodeAgentOptions{})
	p := podOfReplicaSet("jm", "uid")
	c := corev1.Container{Name: FlinkContainerName}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	now := time.Now()

	a.noteStart("ns/jm", p)
	if cs := a.containerStatus("ns/jm", p, c, running, now); cs.State.Running == nil || cs.RestartCount != 0 || cs.LastTerminationState.Terminated != nil {
		t.Errorf("a container that never crashed: %+v", cs)
	}
	// The first crash restarts at once: terminated until then.
	a.noteCrash("ns/jm", p, podExit{code: 2, reason: "Error", message: "cannot restore"}, now)
	if cs := a.containerStatus("ns/jm", p, c, corev1.ContainerState{}, now); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 2 || cs.RestartCount != 0 {
		t.Errorf("crashed, about to restart: %+v", cs)
	}
	a.noteStart("ns/jm", p)
	cs := a.containerStatus("ns/jm", p, c, running, now)
	if cs.State.Running == nil || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 ||
		cs.LastTerminationState.Terminated.Message != "cannot restore" {
		t.Errorf("restarted: %+v", cs)
	}
	// The second waits, in CrashLoopBackOff, with the last termination.
	a.noteCrash("ns/jm", p, podExit{code: 3, reason: "Error"}, now)
	cs = a.containerStatus("ns/jm", p, c, corev1.ContainerState{}, now.Add(time.Second))
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 1 ||
		cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 3 {
		t.Errorf("in back-off: %+v", cs)
	}
	// A new pod under the same name has no history.
	if cs := a.containerStatus("ns/jm", podOfReplicaSet("jm", "uid2"), c, running, now); cs.RestartCount != 0 || cs.LastTerminationState.Terminated != nil {
		t.Errorf("a new pod under the same name: %+v", cs)
	}
}

func TestRestartPolicyDecidesWhetherAContainerRestarts(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int
		want   bool
	}{
		{"", 1, true}, {corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyOnFailure, 1, true}, {corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyNever, 1, false},
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
		if got := restartsAfter(p, tc.code); got != tc.want {
			t.Errorf("policy %q, exit code %d: restarts %v, want %v", tc.policy, tc.code, got, tc.want)
		}
	}
}

func TestStartCrashKeepsTheProcessExitCode(t *testing.T) {
	if e := startCrash(fmt.Errorf("start JobManager: %w", &processExit{code: 2, msg: "exited"})); e.code != 2 || e.reason != "Error" {
		t.Errorf("a process that exited while starting: %+v", e)
	}
	if e := startCrash(errors.New("no java")); e.code != 128 || e.reason != "StartError" {
		t.Errorf("a process that did not start: %+v", e)
	}
}

type killRuntime struct {
	exitRuntime
	killed []types.UID
}

func (k *killRuntime) KillPod(p *corev1.Pod) error {
	k.killed = append(k.killed, p.UID)
	return nil
}

// TestKilledContainerRestartsAtOnceEvenAfterCrashes: a container a test kills (KillPod, like
// the OOM killer) restarts in its pod at once, even when it crashed just before; a container
// that dies on its own keeps its back-off.
func TestKilledContainerRestartsAtOnceEvenAfterCrashes(t *testing.T) {
	ctx := context.Background()
	pod := func(name string) *corev1.Pod {
		p := podOfReplicaSet(name, name)
		p.Spec.Containers = []corev1.Container{{Name: FlinkContainerName}}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: FlinkContainerName}}}
		return p
	}
	killed, crashed := pod("killed"), pod("crashed")
	rt := &killRuntime{}
	a := NewNodeAgent(fake.NewClientset(killed, crashed), rt, NodeAgentOptions{})
	// Both containers crashed once already: a second crash backs off.
	for _, p := range []*corev1.Pod{killed, crashed} {
		a.noteCrash("ns/"+p.Name, p, podExit{code: 1, reason: "Error"}, time.Now())
		a.noteStart("ns/"+p.Name, p)
	}
	if err := a.KillPod(killed); err != nil || len(rt.killed) != 1 {
		t.Fatalf("KillPod: %v, runtime killed %v", err, rt.killed)
	}
	a.exited = map[types.UID]podExit{killed.UID: {code: 137, reason: "Error"}, crashed.UID: {code: 1, reason: "Error"}}
	for _, p := range []*corev1.Pod{killed, crashed} {
		if handled, err := a.syncExited(ctx, "ns/"+p.Name, p); !handled || err != nil {
			t.Fatalf("syncExited(%s) = %v, %v", p.Name, handled, err)
		}
	}
	if wait := a.restartWait("ns/killed", killed, time.Now()); wait != 0 {
		t.Errorf("the killed container waits %s before it restarts, want at once", wait)
	}
	if wait := a.restartWait("ns/crashed", crashed, time.Now()); wait <= 0 {
		t.Error("a container that crashed twice on its own restarts without back-off")
	}
	if a.killed[killed.UID] {
		t.Error("the kill mark outlives the restart: the pod's next crash would skip its back-off too")
	}
}
