package streamingapplication_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

func TestMain(m *testing.M) { os.Exit(acctest.Run(m)) }

const app = "flink_streaming_application.test"

// config is one version resource per label in versions, and the application running
// current in the given state, with extra attributes (e.g. upgrade_mode) in appExtra.
func config(t *testing.T, namespace string, versions map[string]string, current, state string, appExtra ...string) string {
	var vs []ver
	for _, label := range slices.Sorted(maps.Keys(versions)) {
		vs = append(vs, ver{label: label, image: versions[label]})
	}
	return appConfig(t, namespace, vs, current, state, append([]string{`labels = { team = "payments" }`}, appExtra...)...)
}

// TestAccStreamingApplication_lifecycle creates a stateless application, redeploys it with
// a new version, imports it, cancels it and destroys it, checking the cluster at each step.
func TestAccStreamingApplication_lifecycle(t *testing.T) {
	stateless := `upgrade_mode = "stateless"
  on_destroy   = "cancel"`
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	emulator := acctest.Emulator(t)
	v1 := map[string]string{"v1": "flink:1.20.1"}
	both := map[string]string{"v1": "flink:1.20.1", "v2": "flink:1.20.2"}
	var firstJob string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy: func(*terraform.State) error {
			ctx := context.Background()
			for _, name := range []string{kube.AppRecordName("orders"), kube.ConfigMapName("orders")} {
				if _, err := k8s.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					return fmt.Errorf("configmap %s still exists after destroy (err=%v)", name, err)
				}
			}
			for _, name := range []string{kube.JobManagerDeploymentName("orders"), kube.TaskManagerDeploymentName("orders")} {
				if _, err := k8s.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					return fmt.Errorf("deployment %s still exists after destroy (err=%v)", name, err)
				}
			}
			pods, err := k8s.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.PodSelector("orders")})
			if err != nil || len(pods.Items) > 0 {
				return fmt.Errorf("pods of orders remain after destroy: %d (err=%v)", len(pods.Items), err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config(t, ns, v1, "v1", "running", stateless),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("id"), knownvalue.StringExact(ns+"/orders")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed_version_id"), knownvalue.StringExact(ns+"/orders/v1")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("job_id"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{32}$`))),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("rest_url"), knownvalue.StringExact("http://orders-rest."+ns+".svc:8081")),
				},
				Check: func(s *terraform.State) error {
					firstJob = s.RootModule().Resources[app].Primary.Attributes["job_id"]
					if err := expectJob(emulator, k8s, ns, firstJob, "flink:1.20.1"); err != nil {
						return err
					}
					// The application's labels and the version label reach the pods.
					pods, err := k8s.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
						LabelSelector: kube.PodSelector("orders") + ",team=payments," + kube.LabelAppVersion + "=v1"})
					if err != nil || len(pods.Items) != 2 {
						return fmt.Errorf("pods of orders labelled team=payments and version v1: %d, want the JobManager and the TaskManager (err=%v)", len(pods.Items), err)
					}
					return nil
				},
			},
			{
				// A new version with another image: the plan names a stateless redeploy.
				Config: config(t, ns, both, "v2", "running", stateless),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("stateless_redeploy")),
					plancheck.ExpectUnknownValue(app, tfjsonpath.New("job_id")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed_version_id"), knownvalue.StringExact(ns+"/orders/v2")),
				},
				Check: func(s *terraform.State) error {
					job := s.RootModule().Resources[app].Primary.Attributes["job_id"]
					if job == firstJob {
						return fmt.Errorf("redeploy kept job id %s; a new deployment must start a new job", job)
					}
					return expectJob(emulator, k8s, ns, job, "flink:1.20.2")
				},
			},
			{
				ResourceName:            app,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateId:           ns + "/orders",
				ImportStateVerifyIgnore: []string{"timeouts", "planned_operation", "upgrade_mode", "on_destroy"},
			},
			{
				// Cancelling scales the cluster to zero.
				Config: config(t, ns, both, "v2", "cancelled", stateless),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("cancel")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("STOPPED")),
				},
				Check: func(*terraform.State) error {
					for _, name := range []string{kube.JobManagerDeploymentName("orders"), kube.TaskManagerDeploymentName("orders")} {
						d, err := k8s.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
						if err != nil {
							return err
						}
						if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 || d.Status.Replicas != 0 {
							return fmt.Errorf("deployment %s not scaled to zero: spec %v, status %d", name, d.Spec.Replicas, d.Status.Replicas)
						}
					}
					return nil
				},
			},
		},
	})
}

// expectJob checks that the application's JobManager (an emulated one, started by the
// harness from the pod spec) runs the job id Terraform recorded, that the job and its tasks
// run, and that the JobManager Deployment runs the version's image.
func expectJob(emulator *flinktest.Emulator, k8s kubernetes.Interface, ns, jobID, image string) error {
	cluster := emulator.Cluster(kube.RestHost("orders", ns))
	if cluster == nil {
		return fmt.Errorf("no JobManager is running for %s/orders", ns)
	}
	if cluster.JobID() != jobID {
		return fmt.Errorf("JobManager runs job %s, state records %s", cluster.JobID(), jobID)
	}
	if state := cluster.JobState(); state != "RUNNING" {
		return fmt.Errorf("job %s is %s, want RUNNING", jobID, state)
	}
	for vertex, state := range cluster.VertexStates() {
		if state != "RUNNING" {
			return fmt.Errorf("task %s of job %s is %s, want RUNNING", vertex, jobID, state)
		}
	}
	d, err := k8s.AppsV1().Deployments(ns).Get(context.Background(), kube.JobManagerDeploymentName("orders"), metav1.GetOptions{})
	if err != nil {
		return err
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		return fmt.Errorf("JobManager runs image %s, want %s", got, image)
	}
	return nil
}

// TestAccStreamingApplication_drift cancels the job behind Terraform's back: the next plan
// shows the application as cancelled and plans to start it again, and apply does.
func TestAccStreamingApplication_drift(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	emulator := acctest.Emulator(t)
	v1 := map[string]string{"v1": "flink:1.20.1"}
	var firstJob string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{
				Config: config(t, ns, v1, "v1", "running"),
				Check: func(s *terraform.State) error {
					firstJob = s.RootModule().Resources[app].Primary.Attributes["job_id"]
					return nil
				},
			},
			{
				PreConfig: func() {
					cluster := emulator.Cluster(kube.RestHost("orders", ns))
					if cluster == nil {
						t.Fatal("no JobManager running to cancel")
					}
					cluster.Cancel()
				},
				Config: config(t, ns, v1, "v1", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("deploy")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("state"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
				},
				Check: func(s *terraform.State) error {
					job := s.RootModule().Resources[app].Primary.Attributes["job_id"]
					if job == firstJob {
						return fmt.Errorf("the cancelled job %s was not replaced by a new one", job)
					}
					return expectJob(emulator, k8s, ns, job, "flink:1.20.1")
				},
			},
		},
	})
}

// TestAccStreamingApplication_versionOfAnotherApplication is refused at plan time.
func TestAccStreamingApplication_versionOfAnotherApplication(t *testing.T) {
	ns := acctest.Namespace(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{{
			Config:      acctest.ProviderConfig(t) + appHCL(ns, strconv.Quote(ns+"/billing/v1"), ""),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(`belongs to application\s+` + ns + `/billing,\s+not\s+` + ns + `/orders`),
		}},
	})
}

// TestAccStreamingApplication_deployedVersionIsKept: replacing the version an application
// runs in place would delete the record a restart needs; the provider refuses and says how.
func TestAccStreamingApplication_deployedVersionIsKept(t *testing.T) {
	ns := acctest.Namespace(t)
	k8s := acctest.Kube(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		Steps: []resource.TestStep{
			{Config: config(t, ns, map[string]string{"v1": "flink:1.20.1"}, "v1", "running")},
			{
				Config:      config(t, ns, map[string]string{"v1": "flink:1.20.3"}, "v1", "running"),
				ExpectError: regexp.MustCompile(`create_before_destroy`),
			},
			{
				// Back to the original: the record survived and the job still runs.
				Config: config(t, ns, map[string]string{"v1": "flink:1.20.1"}, "v1", "running"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("RUNNING")),
				},
				Check: func(*terraform.State) error {
					_, err := k8s.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.VersionRecordName("orders", "v1"), metav1.GetOptions{})
					return err
				},
			},
		},
	})
}
