package acctest

import (
	"context"
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

func TestCrashBackoffDoublesPerControllerAndResets(t *testing.T) {
	a := NewNodeAgent(nil, exitRuntime{}, NodeAgentOptions{})
	ctrl := true
	pod := func(uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid), OwnerReferences: []metav1.OwnerReference{
			{Kind: "ReplicaSet", Name: "rs", UID: "rs-1", Controller: &ctrl},
		}}}
	}
	until := func() time.Duration { return time.Until(a.crashLoops["rs-1"].until).Round(time.Second) }
	a.noteCrash(pod("p1"), 0)
	if d := until(); d != crashBackoffInitial {
		t.Errorf("after 1 failure: %s", d)
	}
	a.noteCrash(pod("p1"), 0) // the same pod again: not counted
	a.noteCrash(pod("p2"), 0)
	if d := until(); d != 2*crashBackoffInitial {
		t.Errorf("after 2 failures: %s", d)
	}
	for i := range 10 {
		a.noteCrash(pod("q"+string(rune('a'+i))), 0)
	}
	if d := until(); d != crashBackoffMax {
		t.Errorf("after 12 failures: %s, want the cap %s", d, crashBackoffMax)
	}
	a.noteCrash(pod("long-runner"), 2*crashBackoffReset)
	if d := until(); d != crashBackoffInitial {
		t.Errorf("after a long run: %s", d)
	}
	// Runtimes whose pods cannot exit on their own (the emulator) never back off.
	e := NewNodeAgent(nil, NewEmulatorRuntime(nil), NodeAgentOptions{})
	e.noteCrash(pod("p1"), 0)
	if len(e.crashLoops) != 0 {
		t.Error("the emulator runtime got a crash back-off")
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

// TestKilledPodFailsAndIsReplacedWithoutCrashBackoff: a pod a test kills like a failed node
// is reported Failed with its exit code, and its replacement does not wait for a crash-loop
// back-off; a pod whose process dies on its own still backs off.
func TestKilledPodFailsAndIsReplacedWithoutCrashBackoff(t *testing.T) {
	ctx := context.Background()
	ctrl := true
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), OwnerReferences: []metav1.OwnerReference{
				{Kind: "ReplicaSet", Name: "rs", UID: "rs-1", Controller: &ctrl},
			}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: FlinkContainerName}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: FlinkContainerName}}},
		}
	}
	killed, crashed := pod("killed"), pod("crashed")
	cs := fake.NewClientset(killed, crashed)
	rt := &killRuntime{}
	a := NewNodeAgent(cs, rt, NodeAgentOptions{})
	if err := a.KillPod(killed); err != nil || len(rt.killed) != 1 {
		t.Fatalf("KillPod: %v, runtime killed %v", err, rt.killed)
	}
	a.exited = map[types.UID]podExit{killed.UID: {code: 137}, crashed.UID: {code: 1}}
	if handled, err := a.syncExited(ctx, killed); !handled || err != nil {
		t.Fatalf("syncExited(killed) = %v, %v", handled, err)
	}
	got, _ := cs.CoreV1().Pods("ns").Get(ctx, "killed", metav1.GetOptions{})
	if cs := got.Status.ContainerStatuses; got.Status.Phase != corev1.PodFailed || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 137 {
		t.Errorf("killed pod: %s %+v", got.Status.Phase, cs)
	}
	if len(a.crashLoops) != 0 {
		t.Errorf("a killed pod's replacement backs off: %+v", a.crashLoops)
	}
	if _, err := a.syncExited(ctx, crashed); err != nil {
		t.Fatal(err)
	}
	if a.crashLoops["rs-1"] == nil {
		t.Error("a pod that crashed on its own did not start a back-off")
	}
}
