package acctest

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testJobID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

func flinkPod(image string, args []string, env ...corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "orders-jobmanager-abc", Namespace: "team-a",
			Labels: map[string]string{LabelAppName: "orders", LabelComponent: ComponentJobManager, "flink.flinkplatform.io/version": "9.9.9"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "sidecar", Image: "busybox"},
				{Name: FlinkContainerName, Image: image, Args: args, Env: env,
					VolumeMounts: []corev1.VolumeMount{{Name: "flink-config", MountPath: FlinkConfDir}}},
			},
			Volumes: []corev1.Volume{{Name: "flink-config", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "orders-config"}},
			}}},
		},
	}
}

func TestPodRole(t *testing.T) {
	cases := []struct {
		cmd, args []string
		want      Role
	}{
		{nil, []string{"standalone-job", "--job-classname", "X"}, RoleJobManager},
		{[]string{"/docker-entrypoint.sh"}, []string{"taskmanager"}, RoleTaskManager},
		{[]string{"/docker-entrypoint.sh", "standalone-job"}, nil, RoleJobManager},
		{nil, []string{"jobmanager"}, roleSession},
		{[]string{"sleep"}, []string{"3600"}, RoleNone},
		{nil, nil, RoleNone},
	}
	for _, c := range cases {
		p := flinkPod("flink:1.20", c.args)
		p.Spec.Containers[1].Command = c.cmd
		if got := PodRole(p); got != c.want {
			t.Errorf("command %q args %q: role %q, want %q", c.cmd, c.args, got, c.want)
		}
	}
}

func TestFlinkVersionOf(t *testing.T) {
	cases := []struct {
		image string
		env   []corev1.EnvVar
		want  string
	}{
		{"flink:1.20.1-scala_2.12-java17", nil, "1.20.1"},
		{"docker.io/library/flink:2.1", nil, "2.1.0"},
		{"registry.local:5000/flink:1.18.1@sha256:abc", nil, "1.18.1"},
		{"myorg/orders-job:3.4.5", nil, DefaultFlinkVersion},    // not a Flink image name
		{"myorg/flink-orders:latest", nil, DefaultFlinkVersion}, // no version tag
		{"myorg/orders-job:3.4.5", []corev1.EnvVar{{Name: "FLINK_VERSION", Value: "1.19.2"}}, "1.19.2"},
		{"flink:1.20.1", []corev1.EnvVar{{Name: "FLINK_VERSION", Value: "2.0.0"}}, "2.0.0"},
	}
	for _, c := range cases {
		got := FlinkVersionOf(&corev1.Container{Image: c.image, Env: c.env})
		if got != c.want {
			t.Errorf("%s %v: %s, want %s", c.image, c.env, got, c.want)
		}
	}
}

func TestBuildJobManagerLaunch(t *testing.T) {
	pod := flinkPod("flink:1.20.1-java17", []string{
		"standalone-job", "--job-classname", "com.example.Orders", "--job-id", testJobID,
		"--jars", "local:///opt/flink/usrlib/orders.jar", "-Dstate.backend.type=rocksdb",
		"--input", "kafka://orders", "--verbose",
	}, corev1.EnvVar{Name: "FLINK_PROPERTIES", Value: "pipeline.name: orders-pipeline\nparallelism.default: 3"})
	conf, file, err := SelectConfigFile("1.20.1", map[string]string{
		"config.yaml":     "parallelism.default: 2\nexecution.savepoint.path: s3://b/sp-1\nstate.savepoints.dir: s3://b/savepoints\nexecution.savepoint.ignore-unclaimed-state: true\n",
		"flink-conf.yaml": "parallelism.default: 7\n",
	})
	if err != nil || file != "config.yaml" {
		t.Fatalf("SelectConfigFile: %q %v", file, err)
	}
	jm, err := BuildJobManagerLaunch(pod, conf)
	if err != nil {
		t.Fatal(err)
	}
	want := JobManagerLaunch{
		App: "orders", Namespace: "team-a", RestHost: "orders-rest.team-a.svc", FlinkVersion: "1.20.1",
		JobID: testJobID, JobName: "orders-pipeline", EntryClass: "com.example.Orders",
		JarURI: "local:///opt/flink/usrlib/orders.jar", Args: []string{"--input", "kafka://orders", "--verbose"},
		RestorePath: "s3://b/sp-1", AllowNonRestoredState: true, Parallelism: 3, SavepointDir: "s3://b/savepoints",
	}
	got := jm
	got.Config = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("launch\n got %+v\nwant %+v", got, want)
	}
	if jm.Config["state.backend.type"] != "rocksdb" || jm.Config["$internal.pipeline.job-id"] != testJobID {
		t.Errorf("config misses dynamic properties / job id: %v", jm.Config)
	}
}

// Flink 1.18's standalone-job has no --jars: like Flink, the parse ends there and the rest is
// the program's, so this JobManager has no job class.
func TestBuildJobManagerLaunchFlink118HasNoJarsOption(t *testing.T) {
	args := []string{"standalone-job", "--jars", "local:///opt/flink/usrlib/orders.jar", "--job-classname", "com.example.Orders", "--job-id", testJobID}
	if _, err := BuildJobManagerLaunch(flinkPod("flink:1.18.1-java17", args), nil); err == nil || !strings.Contains(err.Error(), "without --job-classname") {
		t.Errorf("Flink 1.18 with --jars: %v, want the job class lost to the program arguments", err)
	}
	if jm, err := BuildJobManagerLaunch(flinkPod("flink:1.19.3-java17", args), nil); err != nil || jm.JarURI != "local:///opt/flink/usrlib/orders.jar" {
		t.Errorf("Flink 1.19 with --jars: %+v, %v", jm, err)
	}
}

func TestRestoreKeysFollowFlinkVersion(t *testing.T) {
	conf := map[string]string{
		"execution.savepoint.path":                        "s3://b/old-key",
		"execution.savepoint.ignore-unclaimed-state":      "true",
		"execution.state-recovery.path":                   "s3://b/new-key",
		"execution.state-recovery.ignore-unclaimed-state": "false",
	}
	cases := map[string]struct {
		path  string
		allow bool
	}{
		"flink:1.18.1": {"s3://b/old-key", true},
		"flink:1.20.0": {"s3://b/new-key", false},
		"flink:2.0.0":  {"s3://b/new-key", false},
	}
	for image, want := range cases {
		jm, err := BuildJobManagerLaunch(flinkPod(image, []string{"standalone-job", "--job-classname", "C", "--job-id", testJobID}), conf)
		if err != nil {
			t.Fatal(err)
		}
		if jm.RestorePath != want.path || jm.AllowNonRestoredState != want.allow {
			t.Errorf("%s: restore %q allow %v, want %q %v", image, jm.RestorePath, jm.AllowNonRestoredState, want.path, want.allow)
		}
	}
	// Flink 2 no longer reads the 1.x keys.
	jm, _ := BuildJobManagerLaunch(flinkPod("flink:2.1.0", []string{"standalone-job", "--job-classname", "C", "--job-id", testJobID}),
		map[string]string{"execution.savepoint.path": "s3://b/old-key"})
	if jm.RestorePath != "" {
		t.Errorf("flink 2 restored from the 1.x key: %q", jm.RestorePath)
	}
	// --fromSavepoint / -n override the configuration.
	jm, _ = BuildJobManagerLaunch(flinkPod("flink:1.20.0", []string{"standalone-job", "--job-classname", "C", "--job-id", testJobID,
		"--fromSavepoint", "s3://b/flag", "-n"}), conf)
	if jm.RestorePath != "s3://b/flag" || !jm.AllowNonRestoredState {
		t.Errorf("flags: restore %q allow %v", jm.RestorePath, jm.AllowNonRestoredState)
	}
}

func TestBuildJobManagerLaunchErrors(t *testing.T) {
	cases := map[string][]string{
		"no entry class": {"standalone-job", "--job-id", testJobID},
		"bad job id":     {"standalone-job", "--job-classname", "C", "--job-id", "xyz"},
		"missing value":  {"standalone-job", "--job-classname"},
	}
	for name, args := range cases {
		if _, err := BuildJobManagerLaunch(flinkPod("flink:1.20", args), nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	p := flinkPod("flink:1.20", []string{"standalone-job", "--job-classname", "C"})
	delete(p.Labels, LabelAppName)
	if _, err := BuildJobManagerLaunch(p, nil); err == nil || !strings.Contains(err.Error(), LabelAppName) {
		t.Errorf("no app label: %v", err)
	}
	// Without --job-id Flink (no HA) picks a random one.
	jm, err := BuildJobManagerLaunch(flinkPod("flink:1.20", []string{"standalone-job", "--job-classname", "C"}), nil)
	if err != nil || len(jm.JobID) != 32 {
		t.Errorf("random job id: %q %v", jm.JobID, err)
	}
}

func TestBuildTaskManagerLaunch(t *testing.T) {
	p := flinkPod("flink:1.19.1", []string{"taskmanager", "-Dtaskmanager.memory.process.size=2g"})
	p.Labels[LabelComponent] = ComponentTaskManager
	conf, _, _ := SelectConfigFile("1.19.1", map[string]string{"flink-conf.yaml": "taskmanager.numberOfTaskSlots: 4 # four\n"})
	tm, err := BuildTaskManagerLaunch(p, conf)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Slots != 4 || tm.RestHost != "orders-rest.team-a.svc" || tm.FlinkVersion != "1.19.1" || tm.Config["taskmanager.memory.process.size"] != "2g" {
		t.Errorf("launch %+v", tm)
	}
	if _, err := BuildTaskManagerLaunch(p, map[string]string{"taskmanager.numberOfTaskSlots": "zero"}); err == nil {
		t.Error("bad slots: no error")
	}
}

func TestSelectConfigFile(t *testing.T) {
	files := map[string]string{"config.yaml": "a: from-yaml\n", "flink-conf.yaml": "a: from-legacy\n"}
	only := map[string]string{"flink-conf.yaml": "a: from-legacy\n"}
	cases := []struct {
		version string
		files   map[string]string
		want    string
	}{
		{"1.18.1", files, "from-legacy"},
		{"1.19.0", files, "from-yaml"},
		{"1.20.0", only, "from-legacy"},
		{"2.0.0", only, ""},
	}
	for _, c := range cases {
		conf, _, err := SelectConfigFile(c.version, c.files)
		if err != nil || conf["a"] != c.want {
			t.Errorf("%s: %v %v, want a=%q", c.version, conf, err, c.want)
		}
	}
}

func TestParseConfigYAMLNested(t *testing.T) {
	conf, err := ParseConfigYAML("taskmanager:\n  numberOfTaskSlots: 2\nparallelism.default: 4\npipeline.jars: [a.jar, b.jar]\nenv.java.opts.all: -XX:+UseG1GC\nsome.version: 1.20\nempty:\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"taskmanager.numberOfTaskSlots": "2", "parallelism.default": "4", "pipeline.jars": "a.jar;b.jar", "env.java.opts.all": "-XX:+UseG1GC", "some.version": "1.20"}
	if !reflect.DeepEqual(conf, want) {
		t.Errorf("got %v want %v", conf, want)
	}
}

func TestPodConfigSource(t *testing.T) {
	p := flinkPod("flink:1.20", []string{"taskmanager"})
	c := FlinkContainer(p)
	src, ok := PodConfigSource(p, c)
	if !ok || src.ConfigMap != "orders-config" || !src.AllKeys {
		t.Fatalf("directory mount: %+v %v", src, ok)
	}
	// Items rename keys; subPath mounts pick single files.
	p.Spec.Volumes[0].ConfigMap.Items = []corev1.KeyToPath{{Key: "flink-config", Path: "config.yaml"}, {Key: "log4j", Path: "log4j-console.properties"}}
	src, _ = PodConfigSource(p, c)
	if files := src.ConfigFiles(map[string]string{"flink-config": "x: 1", "other": "y"}); !reflect.DeepEqual(files, map[string]string{"config.yaml": "x: 1"}) {
		t.Errorf("items: %v", files)
	}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "flink-config", MountPath: FlinkConfDir + "/config.yaml", SubPath: "config.yaml"}}
	src, ok = PodConfigSource(p, c)
	if files := src.ConfigFiles(map[string]string{"flink-config": "x: 1"}); !ok || !reflect.DeepEqual(files, map[string]string{"config.yaml": "x: 1"}) {
		t.Errorf("subPath: %v %v", files, ok)
	}
	c.VolumeMounts = nil
	if _, ok := PodConfigSource(p, c); ok {
		t.Error("no mount: found a config source")
	}
}
