package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// Keys Flink hides in its REST API and logs: GlobalConfiguration.isSensitive matches
// "password" (and "secret", "token", "apikey", … ; checked in flink-dist 1.18.1 to 2.3.0).
const (
	dbPasswordKey    = "fixture.db.password"
	kafkaPasswordKey = "kafka.password"
)

// TestE2E_SecretsReachFlink runs the fixture job on real Flink with secret settings of every
// kind: a Flink key and an environment variable from the application's own Secret, and a
// Flink key and an environment variable from an existing Secret. It shows each value reaches
// the Flink processes (the configuration file the JVM reads, the JVM's environment) while
// Flink shows the keys masked, then rotates the application's values with a savepoint
// upgrade that continues the count. Nothing the test, Terraform, the provider or Flink logs,
// and nothing in the namespace outside Secrets, holds a value.
func TestE2E_SecretsReachFlink(t *testing.T) {
	requireRealFlink(t)
	logPath := acctest.CaptureTerraformLogs(t)
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	values := acctest.SecretValues{
		"kafka password": "kafka-e2e-77c1-value",
		"db password 1":  "db-e2e-1-4be0-value", "token 1": "tok-e2e-1-91fa-value",
		"db password 2": "db-e2e-2-c3d8-value", "token 2": "tok-e2e-2-05b7-value",
	}
	acctest.CreateSecret(t, ns, "kafka-credentials", map[string]string{kafkaPasswordKey: values["kafka password"]})
	version := strings.Replace(versions(t, ns, map[string]string{"v1": acctest.FixtureJobClass}), `  job_manager  =`, `  env_from_secrets = {
    KAFKA_PASSWORD = { secret = "kafka-credentials", key = "`+kafkaPasswordKey+`" }
  }
  flink_configuration_secrets = ["kafka-credentials"]
  job_manager  =`, 1)
	cfg := func(db, token string) string {
		return acctest.ProviderConfig(t) + version + application("counter", ns, "v1", "running", fmt.Sprintf(`
  secret_flink_configuration = { %q = %q }
  secret_env                 = { API_TOKEN = %q }`, dbPasswordKey, db, token))
	}
	clean := []statecheck.StateCheck{acctest.ExpectStateClean(values, false), acctest.ExpectNamespaceClean(k8s, ns, values)}
	var before acctest.FixtureCount

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config:            cfg(values["db password 1"], values["token 1"]),
				ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{acctest.ExpectPlanClean(values, false)}},
				ConfigStateChecks: clean,
				Check: func(*terraform.State) error {
					before = counter(t, ns, "counter", 0)
					return flinkHas(t, ns, values, "db password 1", "token 1")
				},
			},
			{
				Config: cfg(values["db password 2"], values["token 2"]),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
					acctest.ExpectPlanClean(values, false),
				}},
				ConfigStateChecks: clean,
				Check: func(*terraform.State) error {
					after := counter(t, ns, "counter", 0)
					if after.Restored < before.Counted {
						return fmt.Errorf("after the rotation the job restored %d events, but %d were counted before: state was lost", after.Restored, before.Counted)
					}
					return flinkHas(t, ns, values, "db password 2", "token 2")
				},
			},
		},
	})
	if t.Failed() {
		return
	}
	if err := acctest.ScanLog(logPath, values); err != nil {
		t.Error(err)
	}
	// Flink's own logs (and the test node's): Flink masks the keys, and env is not logged.
	dir := acctest.Current().Dir()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".log") {
			return err
		}
		n++
		if err := acctest.ScanLog(p, values); err != nil && !strings.Contains(err.Error(), "is empty") {
			t.Error(err)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Errorf("scanning the logs in %s: %v (%d files)", dir, err, n)
	}
}

// flinkHas checks, without printing a value, that the running JobManager and TaskManager
// processes got the secret settings named current (and none of the others): their
// configuration file holds the Flink keys, their environment the variables, and Flink's REST
// API lists the keys with masked values.
func flinkHas(t *testing.T, ns string, values acctest.SecretValues, db, token string) error {
	t.Helper()
	rt, ok := acctest.Current().Runtime().(*acctest.ProcessRuntime)
	if !ok {
		return fmt.Errorf("not the real Flink runtime")
	}
	pods, err := acctest.Kube(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.PodSelector("counter")})
	if err != nil {
		return err
	}
	wantConf := map[string]string{dbPasswordKey: values[db], kafkaPasswordKey: values["kafka password"]}
	wantEnv := map[string]string{"API_TOKEN": values[token], "KAFKA_PASSWORD": values["kafka password"]}
	checked := 0
	for i := range pods.Items {
		pod := &pods.Items[i]
		pid := rt.PID(pod)
		if pod.DeletionTimestamp != nil || pid == 0 {
			continue
		}
		checked++
		conf, err := os.ReadFile(filepath.Join(rt.PodDir(pod), "conf", "config.yaml"))
		if err != nil {
			return err
		}
		parsed, err := acctest.ParseConfigYAML(string(conf))
		if err != nil {
			return err
		}
		for k, v := range wantConf {
			if parsed[k] != v {
				return fmt.Errorf("pod %s: the configuration Flink reads does not have %s with its value", pod.Name, k)
			}
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			return err
		}
		env := map[string]string{}
		for _, kv := range strings.Split(string(environ), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		for k, v := range wantEnv {
			if env[k] != v {
				return fmt.Errorf("pod %s: the JVM's environment does not have %s with its value", pod.Name, k)
			}
		}
		for name := range values {
			if name != db && name != token && name != "kafka password" && strings.Contains(string(conf)+string(environ), values[name]) {
				return fmt.Errorf("pod %s still has the value of %s", pod.Name, name)
			}
		}
	}
	if checked < 2 {
		return fmt.Errorf("checked %d running Flink processes, want the JobManager and a TaskManager", checked)
	}
	client := flink.New("counter", "http://"+kube.RestHost("counter", ns)+":8081", nil)
	shown, err := client.JobManagerConfig(context.Background())
	if err != nil {
		return err
	}
	for k := range wantConf {
		if got, ok := shown[k]; !ok || got != "******" {
			return fmt.Errorf("Flink's /jobmanager/config lists %s unmasked or not at all (present: %v)", k, ok)
		}
	}
	return nil
}
