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

// deployHA is deploy with Kubernetes HA (cluster id of generation gen, storage in the
// harness's snapshot directory).
func (a *realApp) deployHA(v spec.Version, restore string, gen int64) {
	a.t.Helper()
	ha := &spec.HighAvailability{ClusterID: kube.HAClusterID(a.app, gen),
		StorageDir: "file://" + SnapshotDir(a.t) + "/ha/" + a.ns + "/" + kube.HAClusterID(a.app, gen)}
	objs, err := kube.Render(spec.Deployment{Namespace: a.ns, Application: a.app, Version: v, JobID: a.jobID,
		RestorePath: restore, HA: ha}, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.kc.Apply(a.ctx, objs); err != nil {
		a.t.Fatal(err)
	}
	if err := a.kc.WaitRolledOut(a.ctx, a.ns, a.app, nil); err != nil {
		a.t.Fatalf("%v\n%s", err, a.pods())
	}
	a.mark(v.Label + " with Kubernetes HA rolled out")
}

// TestRealFlinkKubernetesHAJobManagerKilledRestoresLatestCheckpoint: with Kubernetes HA a
// JobManager killed like a failed node (SIGKILL) is replaced by its ReplicaSet, and the new
// one — started with the same --fromSavepoint — recovers the job from its latest completed
// checkpoint instead, through the job graph (1.x) or execution plan (2.x) and checkpoint
// pointers in the HA ConfigMaps, which its pods write with their ServiceAccount's token.
func TestRealFlinkKubernetesHAJobManagerKilledRestoresLatestCheckpoint(t *testing.T) {
	eachFlinkVersion(t, func(t *testing.T, a *realApp) {
		a.deploy(a.spec("v1", FixtureJobClass), "", false)
		a.healthy()
		a.count("v1 counting", func(c FixtureCount) bool { return c.Counted > 0 })
		sp := a.stopWithSavepoint()

		a.deployHA(a.spec("v2", FixtureJobClass), sp, 2)
		a.healthy()
		cp, err := WaitCheckpointed(a.ctx, a.hc, kube.RestURL(a.app, a.ns), a.jobID, 2)
		if err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		a.mark(fmt.Sprintf("counted %d, in checkpoint %d", cp.Count.Counted, cp.CheckpointID))
		a.checkHAData(kube.HAClusterID(a.app, 2))

		killedAt := time.Now()
		victim, err := a.s.KillJobManager(a.ctx, a.ns, a.app)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "killed JobManager pod Failed with exit code 137", func() (bool, string) {
			p, err := a.s.Kube().CoreV1().Pods(a.ns).Get(a.ctx, victim.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			cs := p.Status.ContainerStatuses
			return p.Status.Phase == corev1.PodFailed && len(cs) == 1 && cs[0].State.Terminated != nil &&
				cs[0].State.Terminated.ExitCode == 137, string(p.Status.Phase)
		})
		a.mark("JobManager killed, its pod Failed")
		restored, err := WaitRestored(a.ctx, a.hc, kube.RestURL(a.app, a.ns), a.jobID, killedAt)
		if err != nil {
			t.Fatalf("%v\n%s", err, a.pods())
		}
		a.mark(fmt.Sprintf("job RUNNING again from checkpoint %d", restored.ID))
		if restored.IsSavepoint || restored.ID < cp.CheckpointID {
			t.Fatalf("the new JobManager restored %+v, want checkpoint %d or later (not the deploy-time savepoint %s)",
				restored, cp.CheckpointID, sp)
		}
		after := a.count("counter after the failover", func(c FixtureCount) bool { return c.Restored > 0 })
		if after.Restored < cp.Count.Counted {
			t.Fatalf("restored %d events, fewer than the %d in checkpoint %d", after.Restored, cp.Count.Counted, cp.CheckpointID)
		}
		if took := time.Since(killedAt); took > 90*time.Second {
			t.Errorf("recovery took %s", took)
		}
		a.mark("total")
	})
}

// checkHAData checks that Flink keeps the job in the HA ConfigMaps of clusterID: the job
// graph (Flink 1.x: key jobGraph-<id>) or execution plan (2.x: executionPlan-<id>) in the
// cluster ConfigMap, and its checkpoints in the job's own.
func (a *realApp) checkHAData(clusterID string) {
	a.t.Helper()
	key := "jobGraph-" + a.jobID
	if !strings.HasPrefix(a.version, "1.") {
		key = "executionPlan-" + a.jobID
	}
	cms := a.s.Kube().CoreV1().ConfigMaps(a.ns)
	cluster, err := cms.Get(context.Background(), clusterID+"-cluster-config-map", metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("HA ConfigMap: %v", err)
	}
	if cluster.Data[key] == "" || cluster.Labels[kube.FlinkLabelApp] != clusterID {
		a.t.Errorf("HA ConfigMap %s: no %s (keys %v, labels %v)", cluster.Name, key, keysOf(cluster.Data), cluster.Labels)
	}
	job, err := cms.Get(context.Background(), clusterID+"-"+a.jobID+"-config-map", metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("HA ConfigMap of the job: %v", err)
	}
	checkpoints := 0
	for k := range job.Data {
		if strings.HasPrefix(k, "checkpointID-") {
			checkpoints++
		}
	}
	if checkpoints == 0 {
		a.t.Errorf("HA ConfigMap %s holds no checkpoint (keys %v)", job.Name, keysOf(job.Data))
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
