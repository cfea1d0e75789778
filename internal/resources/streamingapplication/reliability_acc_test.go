package streamingapplication_test

// Acceptance tests, through the Terraform CLI, for the defect classes a reliability review
// proved against the stateful path: a completed savepoint Flink forgot (H1), a healthy job
// replaced by recover (H2), and a 404 that did not come from Flink (H4). H3 (files guarded
// by path) is in the flink_snapshot tests.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/acctest"
	"github.com/flinkplatform/terraform-provider-flink/internal/flink/flinktest"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/lifecycle"
	"github.com/flinkplatform/terraform-provider-flink/internal/provider/providertest"
)

// TestAccStreamingApplication_savepointForgottenByFlink (H1): the upgrade's savepoint
// outlived savepoint_timeout, completed in Flink, and Flink forgot the trigger before the
// next apply (rest.async.store-duration, or a JobManager restart). The next plan says
// recover, and the apply finds the completed savepoint, records it and starts v2 from it.
func TestAccStreamingApplication_savepointForgottenByFlink(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(2)
	timeout := `savepoint_timeout = "1s"`
	var old *flinktest.Cluster
	var savepoint string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{Config: appConfig(t, ns, versions, "v1", "running", timeout)},
			upgradeOutlivingSavepointTimeout(t, emulator, ns, versions, timeout, &old),
			{
				PreConfig: func() {
					savepoint = slowSavepointCompleted(t, old)
					old.ForgetOperations()
				},
				Config: appConfig(t, ns, versions, "v2", "running", timeout),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("recover")),
				}},
				ConfigStateChecks: deployed(ns, "v2"),
				Check: resource.ComposeTestCheckFunc(
					func(s *terraform.State) error {
						if got := attrs(s)["last_snapshot_path"]; got != savepoint {
							return fmt.Errorf("last_snapshot_path = %q; want the savepoint %s Flink completed and forgot", got, savepoint)
						}
						if got := old.Savepoints(); len(got) != 1 {
							return fmt.Errorf("the old job completed savepoints %v; recovery must not take another", got)
						}
						return nil
					},
					runsRestoredFrom(emulator, ns, &savepoint),
				),
			},
		},
	})
}

// TestAccStreamingApplication_recoverKeepsHealthyJob (H2): the API server refuses the upgrade's
// final record write (here an admission policy), after v2's job already runs healthy. The
// next plan says recover, and the apply keeps that job instead of restarting v2 from the
// upgrade's savepoint and losing what it processed since.
func TestAccStreamingApplication_recoverKeepsHealthyJob(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(2)
	var upgraded *flinktest.Cluster

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{Config: appConfig(t, ns, versions, "v1", "running")},
			{
				PreConfig:   func() { refuseFinalRecordWrite(t, ns) },
				Config:      appConfig(t, ns, versions, "v2", "running"),
				ExpectError: words("denied request"),
			},
			{
				PreConfig: func() {
					allowRecordWrites(t, ns)
					c, err := cluster(emulator, ns)
					if err != nil {
						t.Fatal(err)
					}
					if c.JobID() != lifecycle.JobIDFor(ns, "orders", 2) || c.JobState() != "RUNNING" {
						t.Fatalf("before recover the JobManager runs job %s (%s); want v2's job running", c.JobID(), c.JobState())
					}
					upgraded = c
				},
				Config: appConfig(t, ns, versions, "v2", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(app, tfjsonpath.New("planned_operation"), knownvalue.StringExact("recover")),
				}},
				ConfigStateChecks: deployed(ns, "v2"),
				Check: func(s *terraform.State) error {
					c, err := cluster(emulator, ns)
					if err != nil {
						return err
					}
					if c != upgraded || c.JobState() != "RUNNING" || attrs(s)["job_id"] != upgraded.JobID() {
						return fmt.Errorf("recover replaced the healthy v2 job %s: now job %s (%s)", upgraded.JobID(), c.JobID(), c.JobState())
					}
					r, err := appRecord(t, ns)
					if err != nil {
						return err
					}
					if r.Journal != nil {
						return fmt.Errorf("journal left after recover: %+v", r.Journal)
					}
					return nil
				},
			},
		},
	})
}

// refuseFinalRecordWrite installs a ValidatingAdmissionPolicy (built into the API server, no
// webhook) that refuses any update of orders' application record that clears its journal,
// and waits until the API server enforces it.
func refuseFinalRecordWrite(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	k := acctest.Kube(t).AdmissionregistrationV1()
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-final-write-" + ns},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
				ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				}}},
			},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf(`object.metadata.name != %q || object.data[%q].contains('"journal"')`,
					kube.AppRecordName("orders"), kube.RecordDataKey),
				Message: "the test's API server refuses the upgrade's final write",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: policy.Name, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	}
	if _, err := k.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRecordWrite(t, ns, true)
}

// allowRecordWrites removes refuseFinalRecordWrite's policy and waits until it is gone.
func allowRecordWrites(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	k := acctest.Kube(t).AdmissionregistrationV1()
	name := "refuse-final-write-" + ns
	if err := k.ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRecordWrite(t, ns, false)
}

// waitRecordWrite waits until a dry-run write of the record without its journal is refused
// (or, with refused false, accepted).
func waitRecordWrite(t *testing.T, ns string, refused bool) {
	t.Helper()
	cms := acctest.Kube(t).CoreV1().ConfigMaps(ns)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cm, err := cms.Get(context.Background(), kube.AppRecordName("orders"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		probe := cm.DeepCopy()
		probe.Data = map[string]string{kube.RecordDataKey: "{}"}
		_, err = cms.Update(context.Background(), probe, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if (err != nil) == refused && (err == nil || apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy is not in force as expected (refused=%v) after 30s: %v", refused, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAccStreamingApplication_notFlinkAnswering (H4): something that is not Flink answers 404
// in front of the JobManager (an ingress's default backend). The plan does not read it as
// "the job ended" (no redeploy from older state), and destroy with on_destroy = "savepoint"
// deletes nothing, saying what answered.
func TestAccStreamingApplication_notFlinkAnswering(t *testing.T) {
	ns := acctest.Namespace(t)
	emulator := acctest.Emulator(t)
	versions := plainVersions(1)
	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, "404 page not found")
	}))
	defer ingress.Close()
	behindIngress := func() string {
		return acctest.ProviderConfigThrough(t, ingress.URL) + appConfigWithoutProvider(t, ns, versions, "v1", "running")
	}
	var job string

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providertest.Factories,
		CheckDestroy:             checkGone(t, ns, "orders"),
		Steps: []resource.TestStep{
			{
				Config: appConfig(t, ns, versions, "v1", "running"),
				Check:  func(s *terraform.State) error { job = attrs(s)["job_id"]; return nil },
			},
			{
				Config:   behindIngress(),
				PlanOnly: true, // nothing to do: the job did not end because something else answers 404
			},
			{
				Config:      behindIngress(),
				Destroy:     true,
				ExpectError: words("nothing was deleted"),
			},
			{
				Config: appConfig(t, ns, versions, "v1", "running"),
				Check: func(*terraform.State) error {
					c, err := cluster(emulator, ns)
					if err != nil {
						return err
					}
					if c.JobID() != job || c.JobState() != "RUNNING" || len(c.Savepoints()) != 0 {
						return fmt.Errorf("job %s is %s with savepoints %v; want %s running untouched", c.JobID(), c.JobState(), c.Savepoints(), job)
					}
					return nil
				},
			},
		},
	})
}

// appConfigWithoutProvider is appConfig without its provider block.
func appConfigWithoutProvider(t *testing.T, ns string, versions []ver, current, state string) string {
	t.Helper()
	full := appConfig(t, ns, versions, current, state)
	return full[len(acctest.ProviderConfig(t)):]
}
