package kube

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func secretDeployment() spec.Deployment {
	d := testDeployment()
	d.Version.EnvFromSecrets = map[string]spec.SecretKeyRef{"KAFKA_PASSWORD": {Secret: "kafka-credentials", Key: "password"}}
	d.Version.FlinkConfigurationSecrets = []string{"s3-credentials"}
	d.Secret = &spec.OwnedSecret{Name: OwnedSecretName("orders", 3), FlinkConfigurationKeys: []string{"fixture.db.password"},
		EnvNames: []string{"API_TOKEN"}}
	return d
}

func podSpecOf(dep *appsv1ac.DeploymentApplyConfiguration) *corev1ac.PodSpecApplyConfiguration {
	return dep.Spec.Template.Spec
}

func volumeNamed(pod *corev1ac.PodSpecApplyConfiguration, name string) *corev1ac.VolumeApplyConfiguration {
	for i := range pod.Volumes {
		if *pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func TestRenderSecretReferences(t *testing.T) {
	o := mustRender(t, secretDeployment(), nil)
	for _, dep := range []*appsv1ac.DeploymentApplyConfiguration{o.JobManager, o.TaskManager} {
		pod := podSpecOf(dep)
		main := pod.Containers[0]
		refs := map[string]string{}
		for _, e := range main.Env {
			if e.ValueFrom != nil {
				if e.Value != nil {
					t.Errorf("%s: env %s has both a value and a reference", *dep.Name, *e.Name)
				}
				refs[*e.Name] = *e.ValueFrom.SecretKeyRef.Name + "/" + *e.ValueFrom.SecretKeyRef.Key
			}
		}
		want := map[string]string{"KAFKA_PASSWORD": "kafka-credentials/password", "API_TOKEN": "orders-secrets-3/env.API_TOKEN"}
		if len(refs) != len(want) || refs["KAFKA_PASSWORD"] != want["KAFKA_PASSWORD"] || refs["API_TOKEN"] != want["API_TOKEN"] {
			t.Errorf("%s: secret env = %v, want %v", *dep.Name, refs, want)
		}
		// The Flink container still mounts the configuration volume at ConfDir, now an emptyDir.
		if len(main.VolumeMounts) != 1 || *main.VolumeMounts[0].Name != ConfigVolumeName || *main.VolumeMounts[0].MountPath != ConfDir {
			t.Errorf("%s: main container mounts %s", *dep.Name, mustJSON(t, main.VolumeMounts))
		}
		conf := volumeNamed(pod, ConfigVolumeName)
		if conf == nil || conf.ConfigMap != nil || conf.EmptyDir == nil || string(*conf.EmptyDir.Medium) != "Memory" {
			t.Fatalf("%s: configuration volume %s, want a memory-backed emptyDir", *dep.Name, mustJSON(t, conf))
		}
		if tpl := volumeNamed(pod, ConfigTemplateVolumeName); tpl == nil || *tpl.ConfigMap.Name != ConfigMapName("orders") {
			t.Errorf("%s: template volume %s", *dep.Name, mustJSON(t, tpl))
		}
		ext, owned := volumeNamed(pod, "flink-config-secret-0"), volumeNamed(pod, "flink-config-secret-1")
		if ext == nil || *ext.Secret.SecretName != "s3-credentials" || len(ext.Secret.Items) != 0 {
			t.Errorf("%s: external Secret volume %s", *dep.Name, mustJSON(t, ext))
		}
		if owned == nil || *owned.Secret.SecretName != "orders-secrets-3" || len(owned.Secret.Items) != 1 ||
			*owned.Secret.Items[0].Key != "flink-conf.fixture.db.password" || *owned.Secret.Items[0].Path != "fixture.db.password" {
			t.Errorf("%s: owned Secret volume %s (only its Flink keys, each as a file named by the key)", *dep.Name, mustJSON(t, owned))
		}
		if len(pod.InitContainers) != 1 {
			t.Fatalf("%s: %d init containers, want 1", *dep.Name, len(pod.InitContainers))
		}
		init := pod.InitContainers[0]
		wantArgs := []string{ConfigTemplateDir, ConfDir, "config.yaml", "yaml", ConfigSecretsDir + "/s3-credentials", ConfigSecretsDir + "/orders-secrets-3"}
		if *init.Image != *main.Image || strings.Join(init.Args, " ") != strings.Join(wantArgs, " ") ||
			len(init.Command) != 4 || init.Command[0] != "/bin/sh" || init.Command[2] != MergeConfigScript() {
			t.Errorf("%s: init container %s", *dep.Name, mustJSON(t, init))
		}
		if init.Resources == nil || init.Resources.Limits == nil {
			t.Errorf("%s: init container without resources", *dep.Name)
		}
	}
	// Nothing in the objects holds a value: they carry only names.
	if strings.Contains(mustJSON(t, o), "env.API_TOKEN\":\"") {
		t.Error("a value leaked")
	}
}

func TestRenderWithoutSecretsIsUnchanged(t *testing.T) {
	o := mustRender(t, testDeployment(), nil)
	pod := podSpecOf(o.JobManager)
	if len(pod.InitContainers) != 0 || len(pod.Volumes) != 1 || pod.Volumes[0].ConfigMap == nil {
		t.Errorf("without secrets the pod has the ConfigMap volume only: %s", mustJSON(t, pod))
	}
}

func TestRenderSecretLegacyFormat(t *testing.T) {
	d := secretDeployment()
	d.Version.FlinkVersion = "1.18"
	o := mustRender(t, d, nil)
	args := podSpecOf(o.TaskManager).InitContainers[0].Args
	if args[2] != "flink-conf.yaml" || args[3] != "legacy" {
		t.Errorf("Flink 1.18 init args %q, want flink-conf.yaml legacy", args)
	}
}

func TestRenderRejectsConflictingSecrets(t *testing.T) {
	for name, change := range map[string]func(*spec.Deployment){
		"env and env_from_secrets": func(d *spec.Deployment) {
			d.Version.EnvFromSecrets["ALPHA"] = spec.SecretKeyRef{Secret: "x", Key: "y"}
		},
		"owned env and env": func(d *spec.Deployment) { d.Secret.EnvNames = append(d.Secret.EnvNames, "ZED") },
		"owned env and env_from_secrets": func(d *spec.Deployment) {
			d.Secret.EnvNames = append(d.Secret.EnvNames, "KAFKA_PASSWORD")
		},
		"owned key in flink_configuration": func(d *spec.Deployment) {
			d.Secret.FlinkConfigurationKeys = []string{"state.checkpoints.dir"}
		},
		"owned key the provider sets": func(d *spec.Deployment) {
			d.Secret.FlinkConfigurationKeys = []string{"rest.port"}
		},
		"owned key the provider renders": func(d *spec.Deployment) {
			d.Secret.FlinkConfigurationKeys = []string{flinkconf.KeyCheckpointRetention}
		},
		"HA key": func(d *spec.Deployment) {
			d.Secret.FlinkConfigurationKeys = []string{"high-availability.storageDir"}
		},
		"key no Secret can hold": func(d *spec.Deployment) { d.Secret.FlinkConfigurationKeys = []string{"a/b"} },
		"bad secret name":        func(d *spec.Deployment) { d.Version.FlinkConfigurationSecrets = []string{"Not_A_Name"} },
		"secret twice":           func(d *spec.Deployment) { d.Version.FlinkConfigurationSecrets = []string{"a", "a"} },
		"bad env key":            func(d *spec.Deployment) { d.Version.EnvFromSecrets["X"] = spec.SecretKeyRef{Secret: "s", Key: "a b"} },
	} {
		t.Run(name, func(t *testing.T) {
			d := secretDeployment()
			change(&d)
			if _, err := Render(d, nil); err == nil {
				t.Error("Render accepted it")
			}
		})
	}
}

// mergeFixture runs the init container's script, with each available shell, on a template
// directory holding file (and a log4j file) and one directory per Secret.
func runMerge(t *testing.T, shell, file, format, base string, secrets map[string]map[string]string, order ...string) (dir string, out string, err error) {
	t.Helper()
	root := t.TempDir()
	tpl, conf := filepath.Join(root, "template"), filepath.Join(root, "conf")
	for _, d := range []string{tpl, conf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(tpl, file), base, 0o444) // read-only, as a ConfigMap volume
	write(filepath.Join(tpl, Log4jFile), "rootLogger.level = INFO\n", 0o444)
	args := []string{"-c", MergeConfigScript(), "merge-flink-config", tpl, conf, file, format}
	for _, name := range order {
		d := filepath.Join(root, "secrets", name)
		if err := os.MkdirAll(filepath.Join(d, "..2024_01_01"), 0o755); err != nil {
			t.Fatal(err)
		}
		for k, v := range secrets[name] {
			write(filepath.Join(d, k), v, 0o644)
		}
		args = append(args, d)
	}
	b, err := exec.Command(shell, args...).CombinedOutput()
	return conf, string(b), err
}

func shells(t *testing.T) []string {
	var out []string
	for _, s := range []string{"/bin/sh", "dash", "bash"} {
		if p, err := exec.LookPath(s); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatal("no POSIX shell on this machine")
	}
	return out
}

func TestMergeConfigScriptMerges(t *testing.T) {
	tricky := map[string]string{
		"fixture.db.password": `p@ss: 'w"o#rd' \n {x}`,
		"s3.secret-key":       "  spaced  ",
		"api.token":           "trailing newline is dropped\n",
	}
	base := mustRender(t, testDeployment(), nil).ConfigMap.Data["config.yaml"]
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			conf, out, err := runMerge(t, sh, "config.yaml", "yaml", base,
				map[string]map[string]string{"ext": {"s3.secret-key": tricky["s3.secret-key"]},
					"orders-secrets-1": {"fixture.db.password": tricky["fixture.db.password"], "api.token": tricky["api.token"]}},
				"ext", "orders-secrets-1")
			if err != nil {
				t.Fatalf("merge failed: %v\n%s", err, out)
			}
			for _, v := range tricky {
				if strings.Contains(out, strings.TrimSpace(v)) {
					t.Fatalf("the script printed a value: %q", out)
				}
			}
			b, err := os.ReadFile(filepath.Join(conf, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got := parseConf(t, string(b))
			for k, v := range tricky {
				if want := strings.TrimRight(v, "\n"); got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
			if got["state.checkpoints.dir"] != "s3://bucket/checkpoints/orders" {
				t.Errorf("the rendered configuration was not kept: %v", got)
			}
			if _, err := os.Stat(filepath.Join(conf, Log4jFile)); err != nil {
				t.Errorf("log4j file not copied: %v", err)
			}
		})
	}
}

func TestMergeConfigScriptLegacy(t *testing.T) {
	d := testDeployment()
	d.Version.FlinkVersion = "1.18"
	base := mustRender(t, d, nil).ConfigMap.Data["flink-conf.yaml"]
	conf, out, err := runMerge(t, "/bin/sh", "flink-conf.yaml", "legacy", base,
		map[string]map[string]string{"s": {"fixture.db.password": "p@ss: w'o\"rd"}}, "s")
	if err != nil {
		t.Fatalf("merge failed: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(conf, "flink-conf.yaml"))
	if got := parseLegacy(string(b)); got["fixture.db.password"] != "p@ss: w'o\"rd" || got["parallelism.default"] != "4" {
		t.Errorf("legacy merge: %v", got)
	}
}

func TestMergeConfigScriptRefuses(t *testing.T) {
	const value = "s3cr3t-value"
	base := mustRender(t, testDeployment(), nil).ConfigMap.Data["config.yaml"]
	for name, c := range map[string]struct {
		format  string
		secrets map[string]map[string]string
		order   []string
		want    string
	}{
		"owned key":           {"yaml", map[string]map[string]string{"s": {"rest.port": value}}, []string{"s"}, "set by the provider"},
		"owned prefix":        {"yaml", map[string]map[string]string{"s": {"high-availability.type": value}}, []string{"s"}, "set by the provider"},
		"flink_configuration": {"yaml", map[string]map[string]string{"s": {"state.checkpoints.dir": value}}, []string{"s"}, "set twice"},
		"rendered key":        {"yaml", map[string]map[string]string{"s": {"parallelism.default": value}}, []string{"s"}, "set"},
		"two secrets": {"yaml", map[string]map[string]string{"a": {"x.password": value}, "b": {"x.password": value}},
			[]string{"a", "b"}, "Secret b: key x.password is set twice"},
		"line break": {"yaml", map[string]map[string]string{"s": {"x.password": value + "\nmore"}}, []string{"s"}, "line break"},
		"bad key":    {"yaml", map[string]map[string]string{"s": {"x:y": value}}, []string{"s"}, "not a Flink configuration key"},
		"legacy '#'": {"legacy", map[string]map[string]string{"s": {"x.password": value + "#1"}}, []string{"s"}, "comment"},
	} {
		t.Run(name, func(t *testing.T) {
			file := "config.yaml"
			if c.format == "legacy" {
				file = "flink-conf.yaml"
			}
			_, out, err := runMerge(t, "/bin/sh", file, c.format, base, c.secrets, c.order...)
			if err == nil {
				t.Fatalf("the script accepted it:\n%s", out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("message %q does not say %q", out, c.want)
			}
			if strings.Contains(out, value) {
				t.Errorf("the message shows the value: %q", out)
			}
		})
	}
}

func TestOwnedSecretObject(t *testing.T) {
	values := spec.SecretValues{FlinkConfiguration: map[string]string{"fixture.db.password": "zq-conf-value"}, Env: map[string]string{"API_TOKEN": "zq-env-value"}}
	desc := DescribeOwnedSecret(OwnedSecretName("orders", 7), values)
	if desc.Name != "orders-secrets-7" || strings.Join(desc.FlinkConfigurationKeys, ",") != "fixture.db.password" || strings.Join(desc.EnvNames, ",") != "API_TOKEN" {
		t.Fatalf("DescribeOwnedSecret = %+v", desc)
	}
	s := OwnedSecretObject("streams", "orders", desc, values, map[string]string{"team": "payments"}, nil, nil)
	if !*s.Immutable || string(s.Data["flink-conf.fixture.db.password"]) != "zq-conf-value" || string(s.Data["env.API_TOKEN"]) != "zq-env-value" || len(s.Data) != 2 {
		t.Errorf("secret %+v", s)
	}
	if s.Labels[LabelComponent] != ComponentSecret || s.Labels[LabelName] != "orders" || s.Labels["team"] != "payments" {
		t.Errorf("labels %v", s.Labels)
	}
	if printed := fmt.Sprintf("%v %+v %#v %s", values, values, values, &values); strings.Contains(printed, "zq-") {
		t.Errorf("SecretValues prints its values: %s", printed)
	}
}

// A JobManager pod whose init container fails reads as crashed: it will not start.
func TestJobManagerCrashSeesInitContainers(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-jobmanager-1", Namespace: "streams", Labels: ComponentSelectorLabels("orders", ComponentJobManager)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: ContainerName, Args: []string{"standalone-job", "--job-id", testJobID}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{
			Name:                 ConfigInitContainerName,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "merge-flink-config: Secret s: key rest.port is set by the provider"}},
		}}},
	}
	c := &Client{Kube: fake.NewClientset(pod)}
	got := c.JobManagerCrash(ctx, "streams", "orders", testJobID)
	if !strings.Contains(got, "init container flink-config-secrets exited with code 1") || !strings.Contains(got, "rest.port is set by the provider") {
		t.Errorf("JobManagerCrash = %q", got)
	}
	if got := c.JobManagerCrash(ctx, "streams", "orders", "0000000000000000000000000000dead"); got != "" {
		t.Errorf("another job's pod counts: %q", got)
	}
}
