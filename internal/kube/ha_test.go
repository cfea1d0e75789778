package kube

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func haDeployment(flinkVersion string) spec.Deployment {
	d := testDeployment()
	d.Version.FlinkVersion = flinkVersion
	d.Version.FlinkConfiguration = map[string]string{"execution.checkpointing.interval": "10s"}
	d.HA = &spec.HighAvailability{ClusterID: HAClusterID("orders", 7), StorageDir: "s3://bucket/ha/streams/orders/orders-g7"}
	return d
}

func TestRenderHAConfigurationPerFlinkVersion(t *testing.T) {
	for _, fv := range []string{"1.18", "1.20", "2.2"} {
		t.Run(fv, func(t *testing.T) {
			o := mustRender(t, haDeployment(fv), nil)
			var conf map[string]string
			if fv == "1.18" {
				conf = parseLegacyConf(o.ConfigMap.Data[flinkconf.ConfigFileLegacy])
			} else {
				conf = parseConf(t, o.ConfigMap.Data[flinkconf.ConfigFileYAML])
			}
			want := map[string]string{
				"high-availability.type":           "kubernetes",
				"high-availability.storageDir":     "s3://bucket/ha/streams/orders/orders-g7",
				"kubernetes.cluster-id":            "orders-g7",
				"kubernetes.namespace":             "streams",
				"jobmanager.rpc.address":           "orders-jobmanager", // TaskManagers' fallback; HA tells them the leader
				"execution.checkpointing.interval": "10s",
			}
			for k, v := range want {
				if conf[k] != v {
					t.Errorf("%s = %q, want %q", k, conf[k], v)
				}
			}
			// Only ZooKeeper HA reads high-availability.jobmanager.port; Kubernetes HA keeps
			// jobmanager.rpc.port.
			if _, set := conf["high-availability.jobmanager.port"]; set || conf["jobmanager.rpc.port"] != "6123" {
				t.Errorf("rpc port keys: %v / %q", conf["high-availability.jobmanager.port"], conf["jobmanager.rpc.port"])
			}
		})
	}
}

// parseLegacyConf reads flink-conf.yaml's "key: value" lines.
func parseLegacyConf(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

func TestRenderHAJobManagerAdvertisesItsPodIP(t *testing.T) {
	o := mustRender(t, haDeployment("2.2"), nil)
	c := o.JobManager.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"standalone-job", "-Djobmanager.rpc.address=$(POD_IP)", "--jars", "local:///opt/flink/usrlib/orders.jar",
		"--job-classname", "com.example.Orders", "--job-id", testJobID, "--topic", "orders"}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("jm args = %q\nwant %q", c.Args, wantArgs)
	}
	var podIP *corev1.EnvVar
	for _, e := range c.Env {
		if *e.Name == EnvPodIP {
			podIP = &corev1.EnvVar{Name: *e.Name}
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || *e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("POD_IP env is not the downward API's status.podIP: %+v", e)
			}
		}
	}
	if podIP == nil {
		t.Errorf("no POD_IP env in the JobManager container")
	}
	// Kubernetes expands $(POD_IP) only from variables defined in the container.
	for _, e := range o.TaskManager.Spec.Template.Spec.Containers[0].Env {
		if *e.Name == EnvPodIP {
			t.Errorf("TaskManagers need no POD_IP")
		}
	}
	if args := o.TaskManager.Spec.Template.Spec.Containers[0].Args; !reflect.DeepEqual(args, []string{"taskmanager"}) {
		t.Errorf("tm args = %q", args)
	}
}

func TestRenderHAServiceAccountRoleAndBinding(t *testing.T) {
	uid := types.UID("rec-uid")
	owner := &metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "orders-flink-application", UID: uid}
	o := mustRender(t, haDeployment("1.20"), owner)
	if o.ServiceAccount == nil || o.HARole == nil || o.HARoleBinding == nil {
		t.Fatalf("HA objects missing: %v %v %v", o.ServiceAccount, o.HARole, o.HARoleBinding)
	}
	if *o.ServiceAccount.Name != "orders-flink" || *o.HARole.Name != "orders-flink-ha" || *o.HARoleBinding.Name != "orders-flink-ha" {
		t.Errorf("names %s %s %s", *o.ServiceAccount.Name, *o.HARole.Name, *o.HARoleBinding.Name)
	}
	for name, meta := range map[string]struct {
		ns     *string
		labels map[string]string
		owners int
		uid    types.UID
	}{
		"sa":      {o.ServiceAccount.Namespace, o.ServiceAccount.Labels, len(o.ServiceAccount.OwnerReferences), *o.ServiceAccount.OwnerReferences[0].UID},
		"role":    {o.HARole.Namespace, o.HARole.Labels, len(o.HARole.OwnerReferences), *o.HARole.OwnerReferences[0].UID},
		"binding": {o.HARoleBinding.Namespace, o.HARoleBinding.Labels, len(o.HARoleBinding.OwnerReferences), *o.HARoleBinding.OwnerReferences[0].UID},
	} {
		if *meta.ns != "streams" || meta.labels[LabelName] != "orders" || meta.labels[LabelComponent] != ComponentHA ||
			meta.labels[LabelManagedBy] != ManagedByValue || meta.owners != 1 || meta.uid != uid {
			t.Errorf("%s: namespace %s labels %v owners %d (%s)", name, *meta.ns, meta.labels, meta.owners, meta.uid)
		}
	}
	// Exactly what Flink's HA uses: ConfigMaps, all of get/list/watch/create/update/patch/delete,
	// nothing else (no Leases: the leader lock is a ConfigMap).
	var rules []rbacv1.PolicyRule
	for _, r := range o.HARole.Rules {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs})
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("role rules = %+v\nwant %+v", rules, want)
	}
	b := o.HARoleBinding
	if *b.RoleRef.Kind != "Role" || *b.RoleRef.Name != "orders-flink-ha" || *b.RoleRef.APIGroup != "rbac.authorization.k8s.io" {
		t.Errorf("roleRef %+v", b.RoleRef)
	}
	if len(b.Subjects) != 1 || *b.Subjects[0].Kind != "ServiceAccount" || *b.Subjects[0].Name != "orders-flink" || *b.Subjects[0].Namespace != "streams" {
		t.Errorf("subjects %+v", b.Subjects)
	}
	for name, ps := range map[string]struct {
		account   *string
		automount *bool
	}{
		"jobmanager":  {o.JobManager.Spec.Template.Spec.ServiceAccountName, o.JobManager.Spec.Template.Spec.AutomountServiceAccountToken},
		"taskmanager": {o.TaskManager.Spec.Template.Spec.ServiceAccountName, o.TaskManager.Spec.Template.Spec.AutomountServiceAccountToken},
	} {
		if ps.account == nil || *ps.account != "orders-flink" || ps.automount == nil || !*ps.automount {
			t.Errorf("%s pods: serviceAccountName %v automount %v", name, ps.account, ps.automount)
		}
	}
}

func TestRenderWithoutHARendersNoHA(t *testing.T) {
	d := haDeployment("1.20")
	d.HA = nil
	o := mustRender(t, d, nil)
	if o.ServiceAccount != nil || o.HARole != nil || o.HARoleBinding != nil {
		t.Errorf("HA objects rendered without HA")
	}
	conf := parseConf(t, o.ConfigMap.Data[flinkconf.ConfigFileYAML])
	for k := range conf {
		if strings.HasPrefix(k, "high-availability") || strings.HasPrefix(k, "kubernetes.") {
			t.Errorf("key %s rendered without HA", k)
		}
	}
	spec := o.JobManager.Spec.Template.Spec
	if spec.ServiceAccountName != nil || spec.AutomountServiceAccountToken != nil {
		t.Errorf("pods run as %v without HA", spec.ServiceAccountName)
	}
	for _, a := range spec.Containers[0].Args {
		if strings.Contains(a, "POD_IP") {
			t.Errorf("arg %q without HA", a)
		}
	}
}

func TestRenderStandbyJobManagersNeedHA(t *testing.T) {
	d := haDeployment("1.20")
	d.Version.JobManager.Replicas = 2
	o := mustRender(t, d, nil)
	if *o.JobManager.Spec.Replicas != 2 {
		t.Errorf("jm replicas %d, want 2", *o.JobManager.Spec.Replicas)
	}
	d.HA = nil
	if _, err := Render(d, nil); err == nil || !strings.Contains(err.Error(), "job_manager.replicas = 2 needs high availability") {
		t.Errorf("2 JobManagers without HA: %v", err)
	}
	d.Suspended = true
	d.HA = haDeployment("1.20").HA
	if o := mustRender(t, d, nil); *o.JobManager.Spec.Replicas != 0 {
		t.Errorf("suspended: jm replicas %d", *o.JobManager.Spec.Replicas)
	}
}

func TestRenderRejectsBadHA(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*spec.Deployment)
		want string
	}{
		"empty cluster id":    {func(d *spec.Deployment) { d.HA.ClusterID = "" }, "cluster id"},
		"cluster id too long": {func(d *spec.Deployment) { d.HA.ClusterID = strings.Repeat("a", 64) }, "cluster id"},
		"no scheme":           {func(d *spec.Deployment) { d.HA.StorageDir = "/flink/ha" }, "not a URI"},
		"user POD_IP":         {func(d *spec.Deployment) { d.Version.Env = map[string]string{"POD_IP": "x"} }, "POD_IP"},
	} {
		t.Run(name, func(t *testing.T) {
			d := haDeployment("1.20")
			tc.mut(&d)
			if _, err := Render(d, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestHAClusterIDIsPerGeneration(t *testing.T) {
	if a, b := HAClusterID("orders", 1), HAClusterID("orders", 2); a == b || a != "orders-g1" {
		t.Errorf("cluster ids %q %q", a, b)
	}
	for id, want := range map[string]int64{"orders-g1": 1, "orders-g42": 42} {
		if gen, ok := ParseHAClusterID("orders", id); !ok || gen != want {
			t.Errorf("ParseHAClusterID(%q) = %d %v", id, gen, ok)
		}
	}
	// Other applications' ids, whose names start like this one's, are not this one's.
	for _, id := range []string{"orders-g1-g2", "orders-gx", "orders-g", "orders-g01", "orders2-g1", "orders-eu-g1"} {
		if gen, ok := ParseHAClusterID("orders", id); ok {
			t.Errorf("ParseHAClusterID(orders, %q) = %d, want no match", id, gen)
		}
	}
}

func TestUsersMayTuneOnlyLeaderElectionHAKeys(t *testing.T) {
	for key, owned := range map[string]bool{
		"high-availability.type":                                      true,
		"high-availability.storageDir":                                true,
		"kubernetes.cluster-id":                                       true,
		"kubernetes.namespace":                                        true,
		"high-availability.kubernetes.leader-election.lease-duration": false,
		"high-availability.kubernetes.leader-election.retry-period":   false,
	} {
		if flinkconf.IsOwnedKey(key) != owned {
			t.Errorf("flinkconf.IsOwnedKey(%q) = %v, want %v", key, !owned, owned)
		}
	}
}

func haConfigMap(name, clusterID string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "streams",
		Labels: map[string]string{FlinkLabelApp: clusterID, FlinkLabelType: FlinkLabelTypeNative}}}
}

func TestDeleteHAConfigMapsDeletesOnlyThatCluster(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(
		haConfigMap("orders-g1-cluster-config-map", "orders-g1"),
		haConfigMap("orders-g1-"+testJobID+"-config-map", "orders-g1"),
		haConfigMap("orders-g2-cluster-config-map", "orders-g2"),
		haConfigMap("orders-g1-g2-cluster-config-map", "orders-g1-g2"), // application "orders-g1"
		haConfigMap("stranger", "orders-g1"),                           // labelled, but not named by Flink
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-config", Namespace: "streams", Labels: AppLabels("orders")}},
	)
	c := &Client{Kube: cs}
	gens, err := c.HAGenerations(ctx, "streams", "orders")
	if err != nil || !reflect.DeepEqual(gens, []int64{1, 2}) {
		t.Fatalf("HAGenerations = %v, %v; want [1 2]", gens, err)
	}
	if err := c.DeleteHAConfigMaps(ctx, "streams", "orders-g1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteHAConfigMaps(ctx, "streams", "orders-g1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	list, _ := cs.CoreV1().ConfigMaps("streams").List(ctx, metav1.ListOptions{})
	var left []string
	for _, cm := range list.Items {
		left = append(left, cm.Name)
	}
	sort.Strings(left)
	want := []string{"orders-config", "orders-g1-g2-cluster-config-map", "orders-g2-cluster-config-map", "stranger"}
	if !reflect.DeepEqual(left, want) {
		t.Errorf("left %v\nwant %v", left, want)
	}
}

func TestApplyAndDeleteClusterWithHA(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c := &Client{Kube: cs}
	if err := c.Apply(ctx, mustRender(t, haDeployment("2.2"), nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts("streams").Get(ctx, "orders-flink", metav1.GetOptions{}); err != nil {
		t.Errorf("service account: %v", err)
	}
	if _, err := cs.RbacV1().Roles("streams").Get(ctx, "orders-flink-ha", metav1.GetOptions{}); err != nil {
		t.Errorf("role: %v", err)
	}
	if _, err := cs.RbacV1().RoleBindings("streams").Get(ctx, "orders-flink-ha", metav1.GetOptions{}); err != nil {
		t.Errorf("role binding: %v", err)
	}
	left, err := c.clusterLeft(ctx, "streams", "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ServiceAccount orders-flink", "Role orders-flink-ha", "RoleBinding orders-flink-ha"} {
		if !contains(left, want) {
			t.Errorf("clusterLeft %v lacks %q", left, want)
		}
	}
	if err := c.DeleteCluster(ctx, "streams", "orders"); err != nil {
		t.Fatal(err)
	}
	if left, err := c.clusterLeft(ctx, "streams", "orders"); err != nil || len(left) != 0 {
		t.Errorf("after DeleteCluster: %v %v", left, err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestWaitJobManagersGoneWaitsForStoppingJobManagersOfOtherJobs(t *testing.T) {
	jm := func(name, jobID string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "streams", Labels: ComponentSelectorLabels("orders", ComponentJobManager)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: ContainerName, Args: []string{"standalone-job", "--job-id", jobID}}}},
		}
	}
	const current, old = "0000000000000000000000000000000b", "0000000000000000000000000000000a"
	cs := fake.NewClientset(jm("now", current), jm("stopping", old))
	c := &Client{Kube: cs}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := c.WaitJobManagersGone(ctx, "streams", "orders", current)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("with an old JobManager still there: %v", err)
	}
	if err := cs.CoreV1().Pods("streams").Delete(context.Background(), "stopping", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitJobManagersGone(context.Background(), "streams", "orders", current); err != nil {
		t.Errorf("only the current job's JobManager left: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.WaitJobManagersGone(ctx, "streams", "orders", ""); err == nil {
		t.Errorf("keeping none, the current job's JobManager did not count")
	}
}
