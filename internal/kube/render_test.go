package kube

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

const testJobID = "00000000000000000000000000000abc"

func testDeployment() spec.Deployment {
	return spec.Deployment{
		Namespace:   "streams",
		Application: "orders",
		JobID:       testJobID,
		Version: spec.Version{
			Namespace:       "streams",
			Application:     "orders",
			Label:           "v3",
			Image:           "registry.example/orders:1.4.2",
			ImagePullPolicy: "IfNotPresent",
			JarURI:          "local:///opt/flink/usrlib/orders.jar",
			EntryClass:      "com.example.Orders",
			Args:            []string{"--topic", "orders"},
			FlinkVersion:    "1.20",
			Parallelism:     4,
			FlinkConfiguration: map[string]string{
				"state.checkpoints.dir":            "s3://bucket/checkpoints/orders",
				"execution.checkpointing.interval": "10s",
				"env.java.opts.all":                flinkconf.JDKModuleOptions + " -Dfoo=bar -XX:+UseG1GC",
			},
			JobManager:  spec.JobManager{CPU: 0.5, Memory: "1024m", Replicas: 1},
			TaskManager: spec.TaskManager{CPU: 2, Memory: "4g", Replicas: 2, TaskSlots: 2},
			Env:         map[string]string{"ZED": "z", "ALPHA": "a", "MIDDLE": "m"},
		},
		Labels:      map[string]string{"team": "payments", LabelName: "spoofed"},
		Annotations: map[string]string{"owner": "payments@example.com"},
	}
}

func mustRender(t *testing.T, d spec.Deployment, owner *metav1.OwnerReference) Objects {
	t.Helper()
	o, err := Render(d, owner)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return o
}

// parseConf decodes the rendered config.yaml into strings, as Flink would read them.
func parseConf(t *testing.T, text string) map[string]string {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("config.yaml is not valid YAML: %v\n%s", err, text)
	}
	out := map[string]string{}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case int:
			out[k] = strconv.Itoa(x)
		case bool:
			out[k] = strconv.FormatBool(x)
		default:
			t.Fatalf("config.yaml key %q decodes to %T (%v), not a string", k, v, v)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderJobManagerArgsAndContainer(t *testing.T) {
	o := mustRender(t, testDeployment(), nil)
	jm := o.JobManager
	if *jm.Name != "orders-jobmanager" || *jm.Namespace != "streams" {
		t.Fatalf("jobmanager name %s/%s", *jm.Namespace, *jm.Name)
	}
	c := jm.Spec.Template.Spec.Containers[0]
	if *c.Name != "flink-main-container" {
		t.Errorf("container name %q", *c.Name)
	}
	wantArgs := []string{"standalone-job", "--jars", "local:///opt/flink/usrlib/orders.jar",
		"--job-classname", "com.example.Orders", "--job-id", testJobID, "--topic", "orders"}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("jm args = %q\nwant %q", c.Args, wantArgs)
	}
	tc := o.TaskManager.Spec.Template.Spec.Containers[0]
	if !reflect.DeepEqual(tc.Args, []string{"taskmanager"}) {
		t.Errorf("tm args = %q", tc.Args)
	}
	if *c.Image != "registry.example/orders:1.4.2" || *c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %v %v", *c.Image, *c.ImagePullPolicy)
	}
	// env sorted by name
	var names []string
	for _, e := range c.Env {
		names = append(names, *e.Name)
	}
	if !reflect.DeepEqual(names, []string{"ALPHA", "MIDDLE", "ZED"}) {
		t.Errorf("env order %v", names)
	}
	// resources: requests = limits
	if !reflect.DeepEqual(*c.Resources.Requests, *c.Resources.Limits) {
		t.Errorf("jm requests %v != limits %v", *c.Resources.Requests, *c.Resources.Limits)
	}
	cpu, mem := (*c.Resources.Limits)[corev1.ResourceCPU], (*c.Resources.Limits)[corev1.ResourceMemory]
	if cpu.String() != "500m" || mem.String() != "1Gi" {
		t.Errorf("jm resources cpu=%s mem=%s", cpu.String(), mem.String())
	}
	tmem := (*tc.Resources.Limits)[corev1.ResourceMemory]
	if tmem.String() != "4Gi" {
		t.Errorf("tm memory %s", tmem.String())
	}
	// config mount
	if len(c.VolumeMounts) != 1 || *c.VolumeMounts[0].MountPath != "/opt/flink/conf" {
		t.Errorf("volume mounts %+v", c.VolumeMounts)
	}
	vol := jm.Spec.Template.Spec.Volumes[0]
	if *vol.ConfigMap.Name != "orders-config" || *vol.Name != *c.VolumeMounts[0].Name {
		t.Errorf("volume %+v", vol)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[*p.Name] = *p.ContainerPort
	}
	if !reflect.DeepEqual(ports, map[string]int32{"rest": 8081, "rpc": 6123, "blob": 6124}) {
		t.Errorf("jm ports %v", ports)
	}
	if *jm.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || *o.TaskManager.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("deployments must use Recreate")
	}
	if *jm.Spec.Replicas != 1 || *o.TaskManager.Spec.Replicas != 2 {
		t.Errorf("replicas jm=%d tm=%d", *jm.Spec.Replicas, *o.TaskManager.Spec.Replicas)
	}
}

func TestRenderOptionalArgs(t *testing.T) {
	d := testDeployment()
	d.Version.EntryClass = ""
	d.Version.JarURI = ""
	d.Version.Args = nil
	o := mustRender(t, d, nil)
	got := o.JobManager.Spec.Template.Spec.Containers[0].Args
	if !reflect.DeepEqual(got, []string{"standalone-job", "--job-id", testJobID}) {
		t.Errorf("args %q", got)
	}
}

// Flink 1.18's standalone-job has no --jars (an unknown option would turn --job-classname and
// --job-id into program arguments): the job runs from the image's usrlib directory.
func TestRenderFlink118RunsTheJobFromUsrlib(t *testing.T) {
	d := testDeployment()
	d.Version.FlinkVersion = "1.18"
	got := mustRender(t, d, nil).JobManager.Spec.Template.Spec.Containers[0].Args
	want := []string{"standalone-job", "--job-classname", "com.example.Orders", "--job-id", testJobID, "--topic", "orders"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flink 1.18 args %q\nwant %q", got, want)
	}
	for _, uri := range []string{"s3://bucket/orders.jar", "local:///opt/flink/lib/orders.jar", "local:///opt/flink/usrlib/../orders.jar"} {
		d.Version.JarURI = uri
		if _, err := Render(d, nil); err == nil || !strings.Contains(err.Error(), "/opt/flink/usrlib/") {
			t.Errorf("Flink 1.18 with jar %s: %v, want a refusal naming /opt/flink/usrlib/", uri, err)
		}
	}
	d.Version.FlinkVersion = "1.19"
	if _, err := Render(d, nil); err != nil {
		t.Errorf("Flink 1.19 fetches a remote jar with --jars: %v", err)
	}
}

func TestRenderServices(t *testing.T) {
	o := mustRender(t, testDeployment(), nil)
	if *o.RestService.Name != RestServiceName("orders") || *o.RestService.Name != "orders-rest" {
		t.Errorf("rest service %s", *o.RestService.Name)
	}
	if RestHost("orders", "streams") != "orders-rest.streams.svc" {
		t.Errorf("RestHost = %s", RestHost("orders", "streams"))
	}
	rp := o.RestService.Spec.Ports
	if len(rp) != 1 || *rp[0].Name != "rest" || *rp[0].Port != 8081 {
		t.Errorf("rest ports %+v", rp)
	}
	sel := map[string]string{LabelManagedBy: ManagedByValue, LabelName: "orders", LabelComponent: ComponentJobManager}
	if !reflect.DeepEqual(o.RestService.Spec.Selector, sel) || !reflect.DeepEqual(o.JobManagerService.Spec.Selector, sel) {
		t.Errorf("service selectors %v %v", o.RestService.Spec.Selector, o.JobManagerService.Spec.Selector)
	}
	if !reflect.DeepEqual(o.JobManager.Spec.Selector.MatchLabels, sel) {
		t.Errorf("jm deployment selector %v", o.JobManager.Spec.Selector.MatchLabels)
	}
	for k, v := range sel {
		if o.JobManager.Spec.Template.Labels[k] != v {
			t.Errorf("jm pod label %s=%q, want %q", k, o.JobManager.Spec.Template.Labels[k], v)
		}
	}
	if *o.JobManagerService.Name != "orders-jobmanager" {
		t.Errorf("jm service %s", *o.JobManagerService.Name)
	}
	ports := map[string]int32{}
	for _, p := range o.JobManagerService.Spec.Ports {
		ports[*p.Name] = *p.Port
	}
	if !reflect.DeepEqual(ports, map[string]int32{"rpc": 6123, "blob": 6124}) {
		t.Errorf("jm service ports %v", ports)
	}
}

func TestRenderConfigPerFlinkVersion(t *testing.T) {
	for _, c := range []struct {
		flink, file, other string
	}{
		{"1.18", "flink-conf.yaml", "config.yaml"},
		{"1.19", "config.yaml", "flink-conf.yaml"},
		{"1.20", "config.yaml", "flink-conf.yaml"},
		{"2.1", "config.yaml", "flink-conf.yaml"},
	} {
		d := testDeployment()
		d.Version.FlinkVersion = c.flink
		o := mustRender(t, d, nil)
		data := o.ConfigMap.Data
		text, ok := data[c.file]
		if !ok {
			t.Errorf("Flink %s: no %s in %v", c.flink, c.file, keysOf(data))
			continue
		}
		if _, ok := data[c.other]; ok {
			t.Errorf("Flink %s: unexpected %s", c.flink, c.other)
		}
		if _, ok := data["log4j-console.properties"]; !ok {
			t.Errorf("Flink %s: no log4j-console.properties", c.flink)
		}
		var conf map[string]string
		if c.file == "config.yaml" {
			conf = parseConf(t, text)
		} else {
			conf = parseLegacy(text)
		}
		want := map[string]string{
			"jobmanager.rpc.address":                                    "orders-jobmanager",
			"jobmanager.rpc.port":                                       "6123",
			"rest.port":                                                 "8081",
			"blob.server.port":                                          "6124",
			"taskmanager.numberOfTaskSlots":                             "2",
			"parallelism.default":                                       "4",
			"jobmanager.memory.process.size":                            "1024m",
			"taskmanager.memory.process.size":                           "4096m",
			"state.checkpoints.dir":                                     "s3://bucket/checkpoints/orders",
			"execution.checkpointing.interval":                          "10s",
			"env.java.opts.all":                                         flinkconf.JDKModuleOptions + " -Dfoo=bar -XX:+UseG1GC",
			"execution.shutdown-on-application-finish":                  "false",
			"execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
		}
		if !reflect.DeepEqual(conf, want) {
			t.Errorf("Flink %s: config\n got %v\nwant %v\ntext:\n%s", c.flink, conf, want, text)
		}
	}
}

func parseLegacy(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.SplitN(line, "#", 2)[0])
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestRenderRestoreKeys(t *testing.T) {
	for _, c := range []struct {
		flink, file, pathKey, ignoreKey string
	}{
		{"1.18", "flink-conf.yaml", "execution.savepoint.path", "execution.savepoint.ignore-unclaimed-state"},
		{"1.20", "config.yaml", "execution.savepoint.path", "execution.savepoint.ignore-unclaimed-state"},
		{"2.0", "config.yaml", "execution.state-recovery.path", "execution.state-recovery.ignore-unclaimed-state"},
		{"2.1", "config.yaml", "execution.state-recovery.path", "execution.state-recovery.ignore-unclaimed-state"},
	} {
		d := testDeployment()
		d.Version.FlinkVersion = c.flink
		none := mustRender(t, d, nil)
		d.RestorePath = "s3://bucket/savepoints/savepoint-abc123"
		strict := mustRender(t, d, nil)
		d.AllowNonRestoredState = true
		lenient := mustRender(t, d, nil)

		parse := func(o Objects) map[string]string {
			if c.file == "config.yaml" {
				return parseConf(t, o.ConfigMap.Data[c.file])
			}
			return parseLegacy(o.ConfigMap.Data[c.file])
		}
		for _, k := range []string{"execution.savepoint.path", "execution.state-recovery.path", c.ignoreKey} {
			if _, ok := parse(none)[k]; ok {
				t.Errorf("Flink %s without restore: unexpected %s", c.flink, k)
			}
		}
		s := parse(strict)
		if s[c.pathKey] != d.RestorePath {
			t.Errorf("Flink %s: %s = %q", c.flink, c.pathKey, s[c.pathKey])
		}
		if _, ok := s[c.ignoreKey]; ok {
			t.Errorf("Flink %s: %s set without AllowNonRestoredState", c.flink, c.ignoreKey)
		}
		l := parse(lenient)
		if l[c.pathKey] != d.RestorePath || l[c.ignoreKey] != "true" {
			t.Errorf("Flink %s: lenient restore config %v", c.flink, l)
		}
		// other generation's keys never appear
		for k := range l {
			if (strings.HasPrefix(k, "execution.savepoint.") || strings.HasPrefix(k, "execution.state-recovery.")) && k != c.pathKey && k != c.ignoreKey {
				t.Errorf("Flink %s: unexpected key %s", c.flink, k)
			}
		}
		if strict.ConfigHash == none.ConfigHash || lenient.ConfigHash == strict.ConfigHash {
			t.Errorf("Flink %s: config hash does not change with the restore settings", c.flink)
		}
	}
}

func TestRenderLabelsAnnotationsOwner(t *testing.T) {
	tr := true
	owner := &metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "orders-flink-application", UID: "uid-1", Controller: &tr, BlockOwnerDeletion: &tr}
	o := mustRender(t, testDeployment(), owner)
	type meta struct {
		name, component string
		labels, ann     map[string]string
		owners          []metav1ac.OwnerReferenceApplyConfiguration
	}
	objs := []meta{
		{*o.ConfigMap.Name, ComponentConfig, o.ConfigMap.Labels, o.ConfigMap.Annotations, o.ConfigMap.OwnerReferences},
		{*o.RestService.Name, ComponentJobManager, o.RestService.Labels, o.RestService.Annotations, o.RestService.OwnerReferences},
		{*o.JobManagerService.Name, ComponentJobManager, o.JobManagerService.Labels, o.JobManagerService.Annotations, o.JobManagerService.OwnerReferences},
		{*o.JobManager.Name, ComponentJobManager, o.JobManager.Labels, o.JobManager.Annotations, o.JobManager.OwnerReferences},
		{*o.TaskManager.Name, ComponentTaskManager, o.TaskManager.Labels, o.TaskManager.Annotations, o.TaskManager.OwnerReferences},
	}
	for _, m := range objs {
		want := map[string]string{
			LabelManagedBy:  "terraform-provider-flink",
			LabelName:       "orders", // the user's spoofed value loses
			LabelComponent:  m.component,
			LabelVersion:    "v3",
			LabelAppVersion: "v3",
			"team":          "payments",
		}
		if !reflect.DeepEqual(m.labels, want) {
			t.Errorf("%s labels %v\nwant %v", m.name, m.labels, want)
		}
		if m.ann["owner"] != "payments@example.com" {
			t.Errorf("%s annotations %v", m.name, m.ann)
		}
		if len(m.owners) != 1 || *m.owners[0].Name != "orders-flink-application" || *m.owners[0].UID != "uid-1" ||
			!*m.owners[0].Controller || !*m.owners[0].BlockOwnerDeletion || *m.owners[0].Kind != "ConfigMap" {
			t.Errorf("%s owner refs %+v", m.name, m.owners)
		}
	}
	// Without the generation's pod metadata (clusters deployed before pods carried it), pod
	// templates carry only the selector labels, the config hash and the job id.
	for _, dep := range []*appsv1ac.DeploymentApplyConfiguration{o.JobManager, o.TaskManager} {
		if !reflect.DeepEqual(dep.Spec.Template.Labels, dep.Spec.Selector.MatchLabels) {
			t.Errorf("%s pod template labels %v, want the selector %v", *dep.Name, dep.Spec.Template.Labels, dep.Spec.Selector.MatchLabels)
		}
		want := map[string]string{AnnotationConfigHash: o.ConfigHash, AnnotationJobID: testJobID}
		if !reflect.DeepEqual(dep.Spec.Template.Annotations, want) || o.ConfigHash == "" {
			t.Errorf("%s pod template annotations %v, want only the config hash and job id %v", *dep.Name, dep.Spec.Template.Annotations, want)
		}
		if _, ok := dep.Spec.Selector.MatchLabels[LabelVersion]; ok {
			t.Errorf("%s selector must not contain the version", *dep.Name)
		}
	}
	d := testDeployment()
	d.Labels = map[string]string{"team": "risk"}
	d.Annotations = nil
	relabelled := mustRender(t, d, owner)
	if mustJSON(t, relabelled.JobManager.Spec.Template) != mustJSON(t, o.JobManager.Spec.Template) ||
		mustJSON(t, relabelled.TaskManager.Spec.Template) != mustJSON(t, o.TaskManager.Spec.Template) {
		t.Errorf("changing labels/annotations changed a pod template")
	}
	// With it, the pods carry the generation's labels and annotations under the provider's
	// own, and changing the application's labels later changes no pod template.
	d = testDeployment()
	d.Pods = PodMetadataFor(map[string]string{"team": "payments", LabelComponent: "spoofed"}, map[string]string{"owner": "payments@example.com"}, "v3")
	withPods := mustRender(t, d, owner)
	for _, dep := range []*appsv1ac.DeploymentApplyConfiguration{withPods.JobManager, withPods.TaskManager} {
		want := MergeLabels(map[string]string{"team": "payments", LabelVersion: "v3", LabelAppVersion: "v3"}, dep.Spec.Selector.MatchLabels)
		if !reflect.DeepEqual(dep.Spec.Template.Labels, want) {
			t.Errorf("%s pod labels %v\nwant %v", *dep.Name, dep.Spec.Template.Labels, want)
		}
		want = map[string]string{"owner": "payments@example.com", AnnotationConfigHash: withPods.ConfigHash, AnnotationJobID: testJobID}
		if !reflect.DeepEqual(dep.Spec.Template.Annotations, want) {
			t.Errorf("%s pod annotations %v\nwant %v", *dep.Name, dep.Spec.Template.Annotations, want)
		}
	}
	d.Labels, d.Annotations = map[string]string{"team": "risk"}, nil
	relabelled = mustRender(t, d, owner)
	if mustJSON(t, relabelled.JobManager.Spec.Template) != mustJSON(t, withPods.JobManager.Spec.Template) {
		t.Errorf("changing the application's labels changed the pod template of a generation")
	}
	// without an owner: no owner references
	o2 := mustRender(t, testDeployment(), nil)
	if len(o2.ConfigMap.OwnerReferences) != 0 || len(o2.JobManager.OwnerReferences) != 0 {
		t.Errorf("owner references without owner")
	}
}

// A rollback restores the savepoint the failed version tried, often with the same
// configuration: its TaskManagers must still be new ones, not those that were registered with
// the failed JobManager.
func TestRenderNewJobGetsNewTaskManagers(t *testing.T) {
	a := mustRender(t, testDeployment(), nil)
	d := testDeployment()
	d.JobID = "0000000000000000000000000000beef"
	b := mustRender(t, d, nil)
	if a.ConfigHash != b.ConfigHash {
		t.Fatalf("the job id changed the configuration; this test wants the same configuration")
	}
	if mustJSON(t, a.TaskManager.Spec.Template) == mustJSON(t, b.TaskManager.Spec.Template) {
		t.Error("a new job id left the TaskManager pod template as it was: its old TaskManagers would serve the new job")
	}
	if mustJSON(t, a.TaskManager.Spec.Template) != mustJSON(t, mustRender(t, testDeployment(), nil).TaskManager.Spec.Template) {
		t.Error("the same job rendered twice changed the TaskManager pod template")
	}
}

// A new parallelism for the same job updates the ConfigMap and the TaskManager count but not
// the pod templates: the job rescales in place, and no pod restarts (a new job id would).
func TestRenderParallelismChangeKeepsThePods(t *testing.T) {
	d := testDeployment()
	d.Version.TaskManager.Replicas = 0 // as many as the parallelism needs
	a := mustRender(t, d, nil)
	d.Version.Parallelism *= 2
	b := mustRender(t, d, nil)
	if mustJSON(t, a.ConfigMap.Data) == mustJSON(t, b.ConfigMap.Data) {
		t.Error("the ConfigMap does not say the new parallelism: a JobManager that restarts would run the old one")
	}
	for _, pair := range [][2]any{{a.JobManager.Spec.Template, b.JobManager.Spec.Template}, {a.TaskManager.Spec.Template, b.TaskManager.Spec.Template}} {
		if mustJSON(t, pair[0]) != mustJSON(t, pair[1]) {
			t.Error("a parallelism change changed a pod template: the pods would restart")
		}
	}
	if *b.TaskManager.Spec.Replicas != 2**a.TaskManager.Spec.Replicas {
		t.Errorf("TaskManagers %d -> %d for twice the parallelism", *a.TaskManager.Spec.Replicas, *b.TaskManager.Spec.Replicas)
	}
}

func TestRenderSuspendedAndDefaults(t *testing.T) {
	d := testDeployment()
	d.Suspended = true
	o := mustRender(t, d, nil)
	if *o.JobManager.Spec.Replicas != 0 || *o.TaskManager.Spec.Replicas != 0 {
		t.Errorf("suspended replicas jm=%d tm=%d", *o.JobManager.Spec.Replicas, *o.TaskManager.Spec.Replicas)
	}
	d = testDeployment()
	d.Version.JobManager.Replicas = 0
	d.Version.TaskManager.Replicas = 0
	d.Version.TaskManager.TaskSlots = 3
	d.Version.Parallelism = 7
	o = mustRender(t, d, nil)
	if *o.JobManager.Spec.Replicas != 1 || *o.TaskManager.Spec.Replicas != 3 {
		t.Errorf("default replicas jm=%d tm=%d, want 1 and ceil(7/3)=3", *o.JobManager.Spec.Replicas, *o.TaskManager.Spec.Replicas)
	}
}

func TestRenderDeterministic(t *testing.T) {
	a := mustRender(t, testDeployment(), nil)
	for i := 0; i < 20; i++ {
		b := mustRender(t, testDeployment(), nil)
		if mustJSON(t, a) != mustJSON(t, b) {
			t.Fatalf("render is not deterministic:\n%s\n%s", mustJSON(t, a), mustJSON(t, b))
		}
	}
	// config lines are sorted
	text := a.ConfigMap.Data["config.yaml"]
	var keys []string
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, _, _ := strings.Cut(l, ":")
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Errorf("config keys not sorted: %q before %q", keys[i-1], keys[i])
		}
	}
	// a config change changes the hash; an unrelated change does not
	d := testDeployment()
	d.Version.FlinkConfiguration["state.checkpoints.dir"] = "s3://other/"
	if mustRender(t, d, nil).ConfigHash == a.ConfigHash {
		t.Errorf("config hash unchanged after a config change")
	}
	d = testDeployment()
	d.Version.Image = "registry.example/orders:1.4.3"
	if mustRender(t, d, nil).ConfigHash != a.ConfigHash {
		t.Errorf("config hash changed though the config did not")
	}
}

func TestRenderLogConfiguration(t *testing.T) {
	d := testDeployment()
	d.Version.LogConfiguration = "rootLogger.level = DEBUG\n"
	o := mustRender(t, d, nil)
	if o.ConfigMap.Data["log4j-console.properties"] != "rootLogger.level = DEBUG\n" {
		t.Errorf("log configuration not used: %q", o.ConfigMap.Data["log4j-console.properties"])
	}
	if !strings.Contains(mustRender(t, testDeployment(), nil).ConfigMap.Data["log4j-console.properties"], "ConsoleAppender") {
		t.Errorf("default log4j configuration has no console appender")
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*spec.Deployment)
		msg  string
	}{
		{"owned key", func(d *spec.Deployment) { d.Version.FlinkConfiguration["rest.port"] = "9999" }, `"rest.port"`},
		{"owned HA prefix", func(d *spec.Deployment) { d.Version.FlinkConfiguration["high-availability.type"] = "kubernetes" }, "high-availability.type"},
		{"owned restore key", func(d *spec.Deployment) { d.Version.FlinkConfiguration["execution.savepoint.path"] = "s3://x" }, "execution.savepoint.path"},
		{"bad job id", func(d *spec.Deployment) { d.JobID = "xyz" }, "job id"},
		{"bad app name", func(d *spec.Deployment) { d.Application = "Orders_1"; d.Version.Application = "" }, "application name"},
		{"long app name", func(d *spec.Deployment) {
			d.Application = strings.Repeat("a", MaxApplicationNameLength+1)
			d.Version.Application = ""
		}, "too long"},
		{"bad memory", func(d *spec.Deployment) { d.Version.TaskManager.Memory = "4Gi" }, "task manager memory"},
		{"fraction memory", func(d *spec.Deployment) { d.Version.JobManager.Memory = "1.5g" }, "fractions"},
		{"no cpu", func(d *spec.Deployment) { d.Version.JobManager.CPU = 0 }, "cpu"},
		{"bad flink version", func(d *spec.Deployment) { d.Version.FlinkVersion = "latest" }, "Flink version"},
		{"no image", func(d *spec.Deployment) { d.Version.Image = "" }, "image"},
		{"bad pull policy", func(d *spec.Deployment) { d.Version.ImagePullPolicy = "Sometimes" }, "pull policy"},
		{"zero parallelism", func(d *spec.Deployment) { d.Version.Parallelism = 0 }, "parallelism"},
		{"other namespace", func(d *spec.Deployment) { d.Version.Namespace = "elsewhere" }, "namespace"},
		{"bad key", func(d *spec.Deployment) { d.Version.FlinkConfiguration["bad key"] = "x" }, "key"},
		{"legacy hash", func(d *spec.Deployment) {
			d.Version.FlinkVersion = "1.18"
			d.Version.FlinkConfiguration["a.b"] = "x#y"
		}, "'#'"},
		{"legacy newline", func(d *spec.Deployment) {
			d.Version.FlinkVersion = "1.17"
			d.Version.FlinkConfiguration["a.b"] = "x\ny"
		}, "line break"},
	}
	for _, c := range cases {
		d := testDeployment()
		c.mod(&d)
		_, err := Render(d, nil)
		if err == nil {
			t.Errorf("%s: expected an error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.msg)
		}
	}
}

func TestNames(t *testing.T) {
	got := []string{ConfigMapName("a"), RestServiceName("a"), JobManagerServiceName("a"), JobManagerDeploymentName("a"),
		TaskManagerDeploymentName("a"), AppRecordName("a"), VersionRecordName("a", "v1")}
	want := []string{"a-config", "a-rest", "a-jobmanager", "a-jobmanager", "a-taskmanager", "a-flink-application", "a-flink-version-v1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
	if err := ValidateApplicationName(strings.Repeat("a", MaxApplicationNameLength)); err != nil {
		t.Errorf("max length name rejected: %v", err)
	}
}

// TestRenderRestoreArguments: the restore settings reach Flink's entrypoint on its command
// line, which is where it reads them from (it overwrites the configuration's).
func TestRenderRestoreArguments(t *testing.T) {
	d := testDeployment()
	d.RestorePath, d.AllowNonRestoredState = "s3://bucket/sp/savepoint-1", true
	args := mustRender(t, d, nil).JobManager.Spec.Template.Spec.Containers[0].Args
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "--fromSavepoint s3://bucket/sp/savepoint-1 --allowNonRestoredState") {
		t.Errorf("JobManager args %q lack the restore settings", joined)
	}
	d.AllowNonRestoredState = false
	if joined := strings.Join(mustRender(t, d, nil).JobManager.Spec.Template.Spec.Containers[0].Args, " "); strings.Contains(joined, "--allowNonRestoredState") {
		t.Errorf("JobManager args %q allow non-restored state though it was not asked for", joined)
	}
}
