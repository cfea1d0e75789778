package lifecycle

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
)

// The application's labels and annotations reach its pods, with the standard version labels,
// as they are when a generation is deployed: changing them on a running application updates
// the Deployments at once but restarts no pod; the next job's pods carry them.
func TestPodMetadata_LabelsReachPodsWithoutRestartingThem(t *testing.T) {
	t.Parallel()
	s := newStateful(t)
	ctx := context.Background()
	template := func() (labels, objectLabels, annotations map[string]string) {
		t.Helper()
		dep, err := s.fake.AppsV1().Deployments(testNS).Get(ctx, kube.TaskManagerDeploymentName(testApp), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return dep.Spec.Template.Labels, dep.Labels, dep.Spec.Template.Annotations
	}
	desired := func(v int, team string) Desired {
		d := statefulFor(versionN(v), StateRunning)
		d.Labels, d.Annotations = map[string]string{"team": team}, map[string]string{"cost-center": team + "-42"}
		return d
	}

	s.mustApply(desired(1, "payments"), OpDeploy)
	pods, _, annotations := template()
	if pods["team"] != "payments" || pods[kube.LabelAppVersion] != "v1" || pods[kube.LabelVersion] != "v1" ||
		pods[kube.LabelName] != testApp || pods[kube.LabelComponent] != kube.ComponentTaskManager || annotations["cost-center"] != "payments-42" {
		t.Fatalf("pod labels %v, annotations %v; want the application's and the version's", pods, annotations)
	}

	starts := len(s.kubelet.startsSoFar())
	s.mustApply(desired(1, "risk"), OpNone)
	pods, objectLabels, _ := template()
	if objectLabels["team"] != "risk" {
		t.Errorf("Deployment labels %v after the change; want team=risk", objectLabels)
	}
	if pods["team"] != "payments" {
		t.Errorf("pod labels %v changed with the application's labels: that restarts the pods", pods)
	}
	if now := len(s.kubelet.startsSoFar()); now != starts {
		t.Errorf("changing labels started %d JobManagers", now-starts)
	}

	s.mustApply(desired(2, "risk"), OpSavepointRedeploy)
	pods, _, annotations = template()
	if pods["team"] != "risk" || pods[kube.LabelAppVersion] != "v2" || annotations["cost-center"] != "risk-42" {
		t.Errorf("pods of the next job: labels %v, annotations %v; want team=risk, version v2", pods, annotations)
	}
}
