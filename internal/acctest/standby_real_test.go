package acctest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flink"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// jobManagerREST maps each running JobManager pod of the app to its REST address.
func (a *realApp) jobManagerREST() map[string]string {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	out := map[string]string{}
	for _, p := range a.rt.procs {
		if p.role == RoleJobManager && p.pod.Namespace == a.ns && !p.exited() {
			out[p.pod.Name] = fmt.Sprintf("http://127.0.0.1:%d", p.restPort)
		}
	}
	return out
}

// TestRealFlinkStandbyJobManagerAnswersForTheLeaderAndTakesOver: with HA and two JobManager
// replicas, the standby's REST API answers with the leader's job (it forwards to the leading
// Dispatcher), and a savepoint triggered through one JobManager is reported by the other, so
// the REST Service may route to either (Flink has no REST answer only the leader gives, and
// needs none). When the leader is killed, the standby takes over and recovers the job from
// its latest checkpoint.
func TestRealFlinkStandbyJobManagerAnswersForTheLeaderAndTakesOver(t *testing.T) {
	eachFlinkVersion(t, func(t *testing.T, a *realApp) {
		v := a.spec("v1", FixtureJobClass)
		v.JobManager.Replicas = 2
		cid := kube.HAClusterID(a.app, 1)
		objs, err := kube.Render(spec.Deployment{Namespace: a.ns, Application: a.app, Version: v, JobID: a.jobID,
			HA: &spec.HighAvailability{ClusterID: cid, StorageDir: "file://" + SnapshotDir(t) + "/ha/" + a.ns + "/" + cid}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.kc.Apply(a.ctx, objs); err != nil {
			t.Fatal(err)
		}
		if err := a.kc.WaitRolledOut(a.ctx, a.ns, a.app, nil); err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		a.mark("two JobManagers rolled out")
		a.healthy()

		jms := a.jobManagerREST()
		if len(jms) != 2 {
			t.Fatalf("JobManagers running: %v, want 2", jms)
		}
		cm, err := a.s.Kube().CoreV1().ConfigMaps(a.ns).Get(a.ctx, cid+"-cluster-config-map", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		leaderREST := cm.Data["org.apache.flink.k8s.leader.restserver"]
		leader := ""
		for pod, base := range jms {
			if strings.HasSuffix(leaderREST, ","+base) {
				leader = pod
			}
			fc := flink.New(pod, base, &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second})
			job, err := fc.Job(a.ctx, a.jobID)
			if err != nil || job.State != flink.JobRunning {
				t.Errorf("JobManager %s answers for the job: %+v, %v", pod, job.State, err)
			}
		}
		if leader == "" {
			t.Fatalf("no JobManager serves the leader's REST address %q (JobManagers %v)", leaderREST, jms)
		}
		var standby string
		for pod := range jms {
			if pod != leader {
				standby = pod
			}
		}
		via := func(pod string) *flink.Client {
			return flink.New(pod, jms[pod], &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second})
		}
		trigger, err := via(standby).TriggerSavepoint(a.ctx, a.jobID, flink.SavepointRequest{TargetDirectory: "file://" + SnapshotDir(t) + "/" + a.ns})
		if err != nil {
			t.Fatalf("savepoint through the standby %s: %v", standby, err)
		}
		if _, err := flink.WaitForSavepoint(a.ctx, via(leader), a.jobID, trigger); err != nil {
			t.Fatalf("the leader %s does not know the savepoint triggered through the standby: %v", leader, err)
		}
		a.mark("savepoint through the standby, reported by the leader")

		cp, err := WaitCheckpointed(a.ctx, a.hc, kube.RestURL(a.app, a.ns), a.jobID, 2)
		if err != nil {
			t.Fatal(err)
		}
		pod, err := a.s.Kube().CoreV1().Pods(a.ns).Get(a.ctx, leader, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := a.s.agent.KillPod(pod); err != nil {
			t.Fatal(err)
		}
		restored, err := WaitRestored(a.ctx, &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second},
			jms[standby], a.jobID, killed)
		if err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		a.mark(fmt.Sprintf("leader killed; the standby runs the job from checkpoint %d", restored.ID))
		if restored.IsSavepoint || restored.ID < cp.CheckpointID {
			t.Errorf("the standby restored %+v, want checkpoint %d or later", restored, cp.CheckpointID)
		}
		eventually(t, time.Minute, "the killed leader's pod is replaced", func() (bool, string) {
			list, err := a.s.Kube().CoreV1().Pods(a.ns).List(a.ctx, metav1.ListOptions{LabelSelector: kube.LabelComponent + "=" + kube.ComponentJobManager})
			if err != nil {
				return false, err.Error()
			}
			running := 0
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			return running == 2, fmt.Sprintf("%d running", running)
		})
		a.mark("total")
	})
}
