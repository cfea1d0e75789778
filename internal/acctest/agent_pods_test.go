package acctest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// secretTestDeployment is what the provider renders for an application whose version merges
// the Secret external into its configuration and reads KAFKA_PASSWORD from it, and whose own
// Secret holds values.
func secretTestDeployment(ns, app, external string, owned *spec.OwnedSecret) spec.Deployment {
	return spec.Deployment{
		Namespace: ns, Application: app, JobID: "0000000000000000000000000000beef",
		Version: spec.Version{
			Namespace: ns, Application: app, Label: "v1", Image: "flink:1.20.1-java17",
			JarURI: "local:///opt/flink/usrlib/job.jar", EntryClass: "com.example.Job", FlinkVersion: "1.20", Parallelism: 1,
			FlinkConfiguration:        map[string]string{"pipeline.name": app},
			JobManager:                spec.JobManager{CPU: 0.5, Memory: "1g"},
			TaskManager:               spec.TaskManager{CPU: 0.5, Memory: "1g", Replicas: 1},
			EnvFromSecrets:            map[string]spec.SecretKeyRef{"KAFKA_PASSWORD": {Secret: external, Key: "kafka.password"}},
			FlinkConfigurationSecrets: []string{external},
		},
		Secret: owned,
	}
}

func applyRendered(t *testing.T, d spec.Deployment) {
	t.Helper()
	objects, err := kube.Render(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&kube.Client{Kube: Kube(t)}).Apply(ctxFor(t), objects); err != nil {
		t.Fatal(err)
	}
}

func createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
	if _, err := Kube(t).CoreV1().Secrets(ns).Create(ctxFor(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The node runs the rendered init container, so the JobManager's configuration has the keys
// of both Secrets with their exact values, besides the rendered ones.
func TestPodSecretsMergedIntoFlinkConfiguration(t *testing.T) {
	ns, emu, ctx := Namespace(t), Emulator(t), ctxFor(t)
	const app = "merged"
	tricky := `it's "quoted": #1 {x}`
	createSecret(t, ns, "external", map[string]string{"s3.secret-key": tricky, "kafka.password": "k"})
	values := spec.SecretValues{FlinkConfiguration: map[string]string{"fixture.db.password": "owned value"}}
	owned := kube.DescribeOwnedSecret(kube.OwnedSecretName(app, 1), values)
	if _, err := Kube(t).CoreV1().Secrets(ns).Create(ctx, kube.OwnedSecretObject(ns, app, owned, values, nil, nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applyRendered(t, secretTestDeployment(ns, app, "external", &owned))

	host := RestHost(app, ns)
	eventually(t, time.Minute, "JobManager cluster started", func() (bool, string) {
		return emu.Cluster(host) != nil, "no cluster"
	})
	conf := emu.Cluster(host).Spec().Config
	want := map[string]string{"s3.secret-key": tricky, "kafka.password": "k", "fixture.db.password": "owned value", "pipeline.name": app,
		"parallelism.default": "1"}
	for k, v := range want {
		if conf[k] != v {
			t.Errorf("JobManager configuration %s = %q, want %q", k, conf[k], v)
		}
	}
	// The node writes the pod's status after it started the JobManager: wait for it.
	eventually(t, 30*time.Second, "the init container reported Completed", func() (bool, string) {
		pods := podsOf(t, Kube(t), ns, LabelAppName+"="+app+","+LabelComponent+"="+ComponentJobManager)
		if len(pods) != 1 || len(pods[0].Status.InitContainerStatuses) != 1 {
			return false, fmt.Sprintf("%d pods, init container statuses %+v", len(pods), pods)
		}
		state := pods[0].Status.InitContainerStatuses[0].State
		return state.Terminated != nil && state.Terminated.Reason == "Completed", fmt.Sprintf("init container state %+v", state)
	})
}

// A Secret with a key the provider sets stops the pod at its init container, reported as a
// kubelet reports it, without the value; the provider sees the JobManager cannot start.
func TestPodSecretMergeRefusesProviderKey(t *testing.T) {
	ns, ctx := Namespace(t), ctxFor(t)
	const app, value = "refused", "v4lue-not-to-show"
	createSecret(t, ns, "bad", map[string]string{"rest.port": value, "kafka.password": "k"})
	d := secretTestDeployment(ns, app, "bad", nil)
	applyRendered(t, d)
	client := &kube.Client{Kube: Kube(t)}
	eventually(t, time.Minute, "init container in CrashLoopBackOff", func() (bool, string) {
		pods := podsOf(t, Kube(t), ns, LabelAppName+"="+app+","+LabelComponent+"="+ComponentJobManager)
		if len(pods) != 1 || len(pods[0].Status.InitContainerStatuses) != 1 {
			return false, fmt.Sprintf("%d pods", len(pods))
		}
		p := pods[0]
		cs := p.Status.InitContainerStatuses[0]
		last := cs.LastTerminationState.Terminated
		ok := p.Status.Phase == corev1.PodPending && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" &&
			last != nil && last.ExitCode == 1 && strings.Contains(last.Message, "Secret bad: key rest.port is set by the provider")
		return ok, fmt.Sprintf("%s %+v", p.Status.Phase, cs)
	})
	crash := client.JobManagerCrash(ctx, ns, app, d.JobID)
	if !strings.Contains(crash, "init container "+kube.ConfigInitContainerName+" exited with code 1") {
		t.Errorf("JobManagerCrash = %q", crash)
	}
	pods := podsOf(t, Kube(t), ns, LabelAppName+"="+app)
	for _, p := range pods {
		if strings.Contains(fmt.Sprint(p.Status), value) {
			t.Errorf("pod %s status shows the value", p.Name)
		}
	}
}

// A container whose env names a Secret that does not exist waits in
// CreateContainerConfigError, and starts once the Secret is there.
func TestPodWaitsForItsSecret(t *testing.T) {
	ns, emu, ctx := Namespace(t), Emulator(t), ctxFor(t)
	const app = "waiting"
	if _, err := Kube(t).CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "conf"},
		StringData: map[string]string{"x.password": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := secretTestDeployment(ns, app, "conf", nil)
	d.Version.EnvFromSecrets = map[string]spec.SecretKeyRef{"KAFKA_PASSWORD": {Secret: "later", Key: "password"}}
	applyRendered(t, d)
	eventually(t, time.Minute, "CreateContainerConfigError", func() (bool, string) {
		pods := podsOf(t, Kube(t), ns, LabelAppName+"="+app+","+LabelComponent+"="+ComponentJobManager)
		if len(pods) != 1 || len(pods[0].Status.ContainerStatuses) == 0 {
			return false, fmt.Sprintf("%d pods", len(pods))
		}
		w := pods[0].Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, `"later" not found`), fmt.Sprintf("%+v", w)
	})
	if emu.Cluster(RestHost(app, ns)) != nil {
		t.Fatal("the JobManager started without its Secret")
	}
	createSecret(t, ns, "later", map[string]string{"password": "p"})
	eventually(t, time.Minute, "JobManager started", func() (bool, string) {
		return emu.Cluster(RestHost(app, ns)) != nil, "no cluster"
	})
}

// resolveEnv reads secretKeyRef and configMapKeyRef through the API server, as a kubelet.
func TestResolveEnvReadsSecrets(t *testing.T) {
	ns, ctx := Namespace(t), context.Background()
	createSecret(t, ns, "creds", map[string]string{"password": "pw"})
	if _, err := Kube(t).CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"region": "eu"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := &NodeAgent{kube: Kube(t)}
	yes := true
	env := []corev1.EnvVar{
		{Name: "PLAIN", Value: "v"},
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
		{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "region"}}},
		{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}, Key: "k", Optional: &yes}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	}
	if err := a.resolveEnv(ctx, ns, env); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range env {
		got[e.Name] = e.Value
		if e.ValueFrom != nil {
			got[e.Name] = "ref"
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{"PLAIN": "v", "PASSWORD": "pw", "REGION": "eu", "OPTIONAL": "ref", "POD_IP": "ref"}) {
		t.Errorf("resolved env %v", got)
	}
	missing := []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "nope"}}}}
	if err := a.resolveEnv(ctx, ns, missing); err == nil || !strings.Contains(err.Error(), "couldn't find key nope") {
		t.Errorf("missing key: %v", err)
	}
}
