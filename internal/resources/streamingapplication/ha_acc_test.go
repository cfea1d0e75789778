package streamingapplication_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// haObjects checks whether the application's ServiceAccount, Role and RoleBinding exist, and
// that the Role grants exactly kube.JobManagerHARules().
func haObjects(k8s kubernetes.Interface, ns string, want bool) error {
	ctx := context.Background()
	gets := map[string]func() error{
		"ServiceAccount orders-flink": func() error {
			_, err := k8s.CoreV1().ServiceAccounts(ns).Get(ctx, "orders-flink", metav1.GetOptions{})
			return err
		},
		"Role orders-flink-ha": func() error {
			role, err := k8s.RbacV1().Roles(ns).Get(ctx, "orders-flink-ha", metav1.GetOptions{})
			if err == nil && !reflect.DeepEqual(role.Rules, kube.JobManagerHARules()) {
				return fmt.Errorf("Role orders-flink-ha grants %+v, want %+v", role.Rules, kube.JobManagerHARules())
			}
			return err
		},
		"RoleBinding orders-flink-ha": func() error {
			_, err := k8s.RbacV1().RoleBindings(ns).Get(ctx, "orders-flink-ha", metav1.GetOptions{})
			return err
		},
	}
	for name, get := range gets {
		err := get()
		switch {
		case want && err != nil:
			return fmt.Errorf("%s: %w", name, err)
		case !want && err == nil:
			return fmt.Errorf("%s still exists", name)
		case !want && !apierrors.IsNotFound(err):
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// flinkConf reads the configuration the application's pods run with.
func flinkConf(k8s kubernetes.Interface, ns string) (map[string]string, error) {
	cm, err := k8s.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.ConfigMapName("orders"), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	conf := map[string]string{}
	return conf, yaml.Unmarshal([]byte(cm.Data[flinkconf.ConfigFileYAML]), &conf)
}

func haConfigMap(k8s kubernetes.Interface, ns, clusterID string) error {
	_, err := k8s.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:   clusterID + "-cluster-config-map",
		Labels: map[string]string{kube.FlinkLabelApp: clusterID, kube.FlinkLabelType: kube.FlinkLabelTypeNative},
	}}, metav1.CreateOptions{})
	return err
}

// TestAccStreamingApplication_highAvailability: HA is on by default (its RBAC objects exist,
// the pods run as its ServiceAccount, the configuration names a cluster id per generation and
// storage under snapshot_storage_url); high_availability = false warns at plan time, is a
// savepoint redeploy, and removes them; destroy removes them and the HA data Flink left.
func TestAccStreamingApplication_highAvailability(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	v1 := map[string]string{"v1": "flink:1.20.1"}
	on := config(t, ns, v1, "v1", "running")
	off := config(t, ns, v1, "v1", "running", "high_availability = false")
	const offWarning = "orders: no high availability: orders runs without high availability (high_availability = false). When its " +
		"JobManager restarts"

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			if err := haObjects(k8s, ns, false); err != nil {
				return err
			}
			left, err := k8s.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.FlinkLabelType + "=" + kube.FlinkLabelTypeNative})
			if err != nil || len(left.Items) > 0 {
				return fmt.Errorf("HA ConfigMaps left after destroy: %v %v", left, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: on,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("high_availability"), knownvalue.Bool(true)),
				},
				Check: func(*terraform.State) error {
					if err := haObjects(k8s, ns, true); err != nil {
						return err
					}
					conf, err := flinkConf(k8s, ns)
					if err != nil {
						return err
					}
					wantDir := "file://" + acctest.SnapshotDir(t) + "/ha/" + ns + "/orders-g1"
					if conf["high-availability.type"] != "kubernetes" || conf["kubernetes.cluster-id"] != "orders-g1" ||
						conf["high-availability.storageDir"] != wantDir {
						return fmt.Errorf("HA configuration %v, want cluster id orders-g1 and storage %s", conf, wantDir)
					}
					jm, err := k8s.AppsV1().Deployments(ns).Get(context.Background(), kube.JobManagerDeploymentName("orders"), metav1.GetOptions{})
					if err != nil {
						return err
					}
					if sa := jm.Spec.Template.Spec.ServiceAccountName; sa != "orders-flink" {
						return fmt.Errorf("JobManager pods run as %q", sa)
					}
					for _, w := range acctest.PlanWarnings(t, providertest.Factories["flink"], on) {
						if strings.Contains(w, "no high availability") {
							t.Errorf("plan warns %q with high availability on", w)
						}
					}
					if w := strings.Join(acctest.PlanWarnings(t, providertest.Factories["flink"], off), "\n"); !strings.Contains(w, offWarning) {
						t.Errorf("a plan with high_availability = false warns:\n%s\nwant %q", w, offWarning)
					}
					return nil
				},
			},
			{
				Config: off,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("high_availability"), knownvalue.Bool(false)),
				},
				Check: func(*terraform.State) error {
					if err := haObjects(k8s, ns, false); err != nil {
						return err
					}
					conf, err := flinkConf(k8s, ns)
					if err != nil {
						return err
					}
					for k := range conf {
						if strings.HasPrefix(k, "high-availability") || strings.HasPrefix(k, "kubernetes.") {
							return fmt.Errorf("HA key %s rendered with high_availability = false", k)
						}
					}
					return nil
				},
			},
			{
				Config: on,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("savepoint_redeploy")),
				}},
				Check: func(*terraform.State) error {
					conf, err := flinkConf(k8s, ns)
					if err != nil {
						return err
					}
					if conf["kubernetes.cluster-id"] != "orders-g3" {
						return fmt.Errorf("cluster id %q after two redeploys, want orders-g3", conf["kubernetes.cluster-id"])
					}
					// What Flink's HA services would have written while generation 3 runs.
					return haConfigMap(k8s, ns, "orders-g3")
				},
			},
		},
	})
}

// TestAccStreamingApplication_standbyJobManagers: job_manager.replicas = 2 runs two
// JobManager pods with high availability, and is refused at plan time without it.
func TestAccStreamingApplication_standbyJobManagers(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	standby := func(appExtra string) string {
		return strings.Replace(config(t, ns, map[string]string{"v1": "flink:1.20.1"}, "v1", "running", appExtra),
			"  task_manager = {", "  job_manager = { replicas = 2 }\n  task_manager = {", 1)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: standby(""),
				Check: func(*terraform.State) error {
					jm, err := k8s.AppsV1().Deployments(ns).Get(context.Background(), kube.JobManagerDeploymentName("orders"), metav1.GetOptions{})
					if err != nil {
						return err
					}
					if *jm.Spec.Replicas != 2 || jm.Status.AvailableReplicas != 2 {
						return fmt.Errorf("JobManager replicas %d, available %d; want 2", *jm.Spec.Replicas, jm.Status.AvailableReplicas)
					}
					return nil
				},
			},
			{
				Config:      standby("high_availability = false"),
				ExpectError: regexp.MustCompile(`job_manager\.replicas\s+=\s+2\s+needs\s+high\s+availability`),
			},
		},
	})
}
