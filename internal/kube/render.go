package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Objects are the rendered Kubernetes objects of one application cluster, as server-side
// apply configurations. Apply them with Client.Apply.
type Objects struct {
	Namespace   string
	Application string
	// ConfigHash is the hash of the ConfigMap data but parallelism.default (podRestartHash),
	// also set as the AnnotationConfigHash annotation on both pod templates.
	ConfigHash string

	ConfigMap         *corev1ac.ConfigMapApplyConfiguration
	RestService       *corev1ac.ServiceApplyConfiguration
	JobManagerService *corev1ac.ServiceApplyConfiguration
	JobManager        *appsv1ac.DeploymentApplyConfiguration
	TaskManager       *appsv1ac.DeploymentApplyConfiguration

	// With Kubernetes HA (nil without): the identity the pods run as, and what Flink's HA
	// services need of the API server.
	ServiceAccount *corev1ac.ServiceAccountApplyConfiguration
	HARole         *rbacv1ac.RoleApplyConfiguration
	HARoleBinding  *rbacv1ac.RoleBindingApplyConfiguration
}

// EnvPodIP is the environment variable holding the pod's IP in HA JobManager pods.
const EnvPodIP = "POD_IP"

var jobIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// revisionHistoryLimit keeps a few old ReplicaSets for kubectl rollout history.
const revisionHistoryLimit = 3

// Render renders the Kubernetes objects of deployment d: the configuration ConfigMap, the
// REST and JobManager Services and the JobManager and TaskManager Deployments, and with d.HA
// the ServiceAccount, Role and RoleBinding Flink's Kubernetes HA needs. When owner is
// not nil (normally AppOwnerRef of the application record) it is set as the owner of every
// object, so deleting the record cascades to the cluster.
//
// Defaults: JobManager replicas 0 means 1 (more than 1 only with HA: standbys); TaskManager task slots 0 means 1; TaskManager
// replicas 0 means enough TaskManagers for the parallelism. Suspended renders 0 replicas for
// both Deployments. Output is deterministic.
func Render(d spec.Deployment, owner *metav1.OwnerReference) (Objects, error) {
	if err := checkDeployment(d); err != nil {
		return Objects{}, err
	}
	v := d.Version
	fv, err := flinkconf.ParseVersion(v.FlinkVersion)
	if err != nil {
		return Objects{}, err
	}
	cfg, err := flinkconf.Configuration(d, JobManagerServiceName(d.Application))
	if err != nil {
		return Objects{}, err
	}
	if err := checkSecrets(d, cfg); err != nil {
		return Objects{}, err
	}
	confFile, err := flinkconf.RenderFile(fv, cfg)
	if err != nil {
		return Objects{}, err
	}
	if err := flinkconf.CheckJarURI(fv, v.JarURI); err != nil {
		return Objects{}, err
	}
	jmRes, err := podResources(v.JobManager.CPU, v.JobManager.Memory)
	if err != nil {
		return Objects{}, fmt.Errorf("job manager resources: %w", err)
	}
	tmRes, err := podResources(v.TaskManager.CPU, v.TaskManager.Memory)
	if err != nil {
		return Objects{}, fmt.Errorf("task manager resources: %w", err)
	}
	logConf := v.LogConfiguration
	if logConf == "" {
		logConf = flinkconf.DefaultLog4j
	}
	data := map[string]string{fv.ConfigFileName(): confFile, Log4jFile: logConf}
	restartHash, err := podRestartHash(fv, cfg, logConf)
	if err != nil {
		return Objects{}, err
	}

	r := renderer{d: d, fv: fv, ns: d.Namespace, app: d.Application}
	if owner != nil {
		r.owners = append(r.owners, ownerRefAC(*owner))
	}
	o := Objects{Namespace: r.ns, Application: r.app, ConfigHash: restartHash}
	o.ConfigMap = corev1ac.ConfigMap(ConfigMapName(r.app), r.ns).
		WithLabels(r.labels(ComponentConfig)).
		WithAnnotations(d.Annotations).
		WithOwnerReferences(r.owners...).
		WithData(data)
	o.RestService, o.JobManagerService = r.services()
	account := ""
	if d.HA != nil {
		account = ServiceAccountName(r.app)
		o.ServiceAccount, o.HARole, o.HARoleBinding = r.haIdentity(account)
	}
	jmReplicas, tmReplicas := replicas(d)
	// Pods carry only what must restart them: the config hash, and the job id, so that every
	// job gets TaskManagers of its own. One that was registered with the previous JobManager
	// comes to the new one only after heartbeat.timeout (50s), or, if that JobManager died
	// while it registered, after taskmanager.registration.timeout (5m, when it exits): Flink
	// keeps retrying the ResourceManager it had resolved. User labels and annotations and the
	// version labels reach the pods as they were when the generation was deployed (d.Pods),
	// so changing them later restarts nothing; the other objects get them at once.
	podAnnotations := map[string]string{AnnotationConfigHash: o.ConfigHash, AnnotationJobID: d.JobID}
	if m := v.Metrics; m != nil && m.ScrapeAnnotations {
		podAnnotations[AnnotationScrape], podAnnotations[AnnotationScrapePort], podAnnotations[AnnotationScrapePath] = "true", strconv.Itoa(int(m.Port)), MetricsPath
	}
	env := append(envVars(v.Env), secretEnvVars(d)...)
	o.JobManager = deployment(r.app, JobManagerDeploymentName(r.app), r.ns, r.labels(ComponentJobManager), d.Annotations, r.owners,
		ComponentSelectorLabels(r.app, ComponentJobManager), r.pod(ComponentJobManager, podAnnotations), jmReplicas, account, r.jobManagerContainer(env, jmRes))
	o.TaskManager = deployment(r.app, TaskManagerDeploymentName(r.app), r.ns, r.labels(ComponentTaskManager), d.Annotations, r.owners,
		ComponentSelectorLabels(r.app, ComponentTaskManager), r.pod(ComponentTaskManager, podAnnotations), tmReplicas, account,
		container(v, []string{"taskmanager"}, env, tmRes).WithPorts(metricsPorts(v)...))
	mergeConfigSecrets(o.JobManager, d, fv, jmRes)
	mergeConfigSecrets(o.TaskManager, d, fv, tmRes)
	return o, nil
}

// checkDeployment refuses a deployment whose objects cannot be rendered.
func checkDeployment(d spec.Deployment) error {
	if err := ValidateNamespace(d.Namespace); err != nil {
		return err
	}
	if err := ValidateApplicationName(d.Application); err != nil {
		return err
	}
	v := d.Version
	if v.Namespace != "" && v.Namespace != d.Namespace {
		return fmt.Errorf("version %s belongs to namespace %q, not %q", v.ID(), v.Namespace, d.Namespace)
	}
	if v.Application != "" && v.Application != d.Application {
		return fmt.Errorf("version %s belongs to application %q, not %q", v.ID(), v.Application, d.Application)
	}
	if err := ValidateVersionLabel(d.Application, v.Label); err != nil {
		return err
	}
	if v.Image == "" {
		return fmt.Errorf("version %s has no image", v.ID())
	}
	switch corev1.PullPolicy(v.ImagePullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("image pull policy %q is invalid: use Always, IfNotPresent or Never", v.ImagePullPolicy)
	}
	if !jobIDPattern.MatchString(d.JobID) {
		return fmt.Errorf("job id %q is invalid: want 32 hexadecimal digits", d.JobID)
	}
	if v.JobManager.Replicas < 0 || v.TaskManager.Replicas < 0 || v.TaskManager.TaskSlots < 0 {
		return fmt.Errorf("replicas and task slots must not be negative")
	}
	return checkHA(d)
}

// renderer holds what every object of one deployment shares.
type renderer struct {
	d       spec.Deployment
	fv      flinkconf.Version
	ns, app string
	owners  []*metav1ac.OwnerReferenceApplyConfiguration
}

func (r renderer) labels(component string) map[string]string {
	return MergeLabels(r.d.Labels, ComponentSelectorLabels(r.app, component),
		map[string]string{LabelVersion: r.d.Version.Label, LabelAppVersion: r.d.Version.Label})
}

// pod is the pod template metadata of component: the generation's labels and annotations
// (d.Pods) under the provider's own.
func (r renderer) pod(component string, ours map[string]string) *corev1ac.PodTemplateSpecApplyConfiguration {
	labels, annotations := ComponentSelectorLabels(r.app, component), ours
	if p := r.d.Pods; p != nil {
		labels, annotations = MergeLabels(p.Labels, labels), MergeLabels(p.Annotations, ours)
	}
	return corev1ac.PodTemplateSpec().WithLabels(labels).WithAnnotations(annotations)
}

// services are the REST Service and the JobManager's RPC Service.
func (r renderer) services() (rest, rpc *corev1ac.ServiceApplyConfiguration) {
	service := func(name string) *corev1ac.ServiceApplyConfiguration {
		return corev1ac.Service(name, r.ns).
			WithLabels(r.labels(ComponentJobManager)).
			WithAnnotations(r.d.Annotations).
			WithOwnerReferences(r.owners...)
	}
	spec := func() *corev1ac.ServiceSpecApplyConfiguration {
		return corev1ac.ServiceSpec().WithType(corev1.ServiceTypeClusterIP).WithSelector(ComponentSelectorLabels(r.app, ComponentJobManager))
	}
	rest = service(RestServiceName(r.app)).WithSpec(spec().WithPorts(servicePort(PortNameRest, flinkconf.RestPort)))
	// TaskManagers must reach the JobManager while it starts, before it is ready.
	rpc = service(JobManagerServiceName(r.app)).WithSpec(spec().
		WithPublishNotReadyAddresses(true).
		WithPorts(servicePort(PortNameRPC, flinkconf.RPCPort), servicePort(PortNameBlob, flinkconf.BlobPort)))
	return rest, rpc
}

// haIdentity is the ServiceAccount the pods run as with Kubernetes HA, and the Role and
// RoleBinding that give it the ConfigMap permissions Flink's HA uses.
func (r renderer) haIdentity(account string) (*corev1ac.ServiceAccountApplyConfiguration, *rbacv1ac.RoleApplyConfiguration, *rbacv1ac.RoleBindingApplyConfiguration) {
	sa := corev1ac.ServiceAccount(account, r.ns).
		WithLabels(r.labels(ComponentHA)).
		WithAnnotations(r.d.Annotations).
		WithOwnerReferences(r.owners...)
	role := rbacv1ac.Role(HARoleName(r.app), r.ns).
		WithLabels(r.labels(ComponentHA)).
		WithAnnotations(r.d.Annotations).
		WithOwnerReferences(r.owners...)
	for _, rule := range JobManagerHARules() {
		role = role.WithRules(rbacv1ac.PolicyRule().WithAPIGroups(rule.APIGroups...).WithResources(rule.Resources...).WithVerbs(rule.Verbs...))
	}
	binding := rbacv1ac.RoleBinding(HARoleName(r.app), r.ns).
		WithLabels(r.labels(ComponentHA)).
		WithAnnotations(r.d.Annotations).
		WithOwnerReferences(r.owners...).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(HARoleName(r.app))).
		WithSubjects(rbacv1ac.Subject().WithKind(rbacv1.ServiceAccountKind).WithName(account).WithNamespace(r.ns))
	return sa, role, binding
}

// replicas of the JobManager and TaskManager Deployments: none when suspended, TaskManagers
// enough for the parallelism unless set.
func replicas(d spec.Deployment) (jobManagers, taskManagers int32) {
	v := d.Version
	if d.Suspended {
		return 0, 0
	}
	return int32(max(v.JobManager.Replicas, 1)), int32(flinkconf.TaskManagers(v))
}

// jobManagerArgs is the standalone-job command line of the JobManager for Flink fv.
func jobManagerArgs(d spec.Deployment, fv flinkconf.Version) []string {
	v := d.Version
	// --jars comes first: Flink's parser takes every following word that is not an option
	// as another jar, which would swallow the job's own arguments at the end.
	args := []string{"standalone-job"}
	if d.HA != nil {
		// With HA the leader publishes its own address; the Service's would be shared by
		// standbys. (Flink 2 has no --host any more; this works on 1.x and 2.x.)
		args = append(args, "-D"+flinkconf.KeyRPCAddress+"=$("+EnvPodIP+")")
	}
	// Flink 1.18 has no --jars: it runs the job from the image's usrlib directory (CheckJarURI).
	if v.JarURI != "" && fv.JarsArgument() {
		args = append(args, "--jars", v.JarURI)
	}
	if v.EntryClass != "" {
		args = append(args, "--job-classname", v.EntryClass)
	}
	args = append(args, "--job-id", d.JobID)
	// Flink's application entrypoint takes the restore settings from its command line and
	// overwrites the configuration's with them (an absent --allowNonRestoredState resets
	// ignore-unclaimed-state to false), so they go here; the configuration keeps the path too
	// for whoever reads the ConfigMap.
	if d.RestorePath != "" {
		args = append(args, "--fromSavepoint", d.RestorePath)
		if d.AllowNonRestoredState {
			args = append(args, "--allowNonRestoredState")
		}
	}
	return append(args, v.Args...)
}

func (r renderer) jobManagerContainer(env []*corev1ac.EnvVarApplyConfiguration, res corev1.ResourceList) *corev1ac.ContainerApplyConfiguration {
	if r.d.HA != nil {
		env = append(append([]*corev1ac.EnvVarApplyConfiguration{}, env...), corev1ac.EnvVar().WithName(EnvPodIP).
			WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("status.podIP"))))
	}
	return container(r.d.Version, jobManagerArgs(r.d, r.fv), env, res).
		WithPorts(containerPort(PortNameRest, flinkconf.RestPort), containerPort(PortNameRPC, flinkconf.RPCPort), containerPort(PortNameBlob, flinkconf.BlobPort)).
		WithPorts(metricsPorts(r.d.Version)...).
		WithReadinessProbe(corev1ac.Probe().
			WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString(PortNameRest))).
			WithPeriodSeconds(5).
			WithFailureThreshold(3))
}

func containerPort(name string, port int32) *corev1ac.ContainerPortApplyConfiguration {
	return corev1ac.ContainerPort().WithName(name).WithContainerPort(port).WithProtocol(corev1.ProtocolTCP)
}

// metricsPorts is the Prometheus reporter's port, named so a PodMonitor can select it.
func metricsPorts(v spec.Version) []*corev1ac.ContainerPortApplyConfiguration {
	if v.Metrics == nil {
		return nil
	}
	return []*corev1ac.ContainerPortApplyConfiguration{containerPort(PortNameMetrics, v.Metrics.Port)}
}

// checkHA refuses HA settings Flink or Kubernetes would refuse later, and standby
// JobManagers without HA (they would each run the job).
func checkHA(d spec.Deployment) error {
	ha := d.HA
	if ha == nil {
		if d.Version.JobManager.Replicas > 1 {
			return fmt.Errorf("job_manager.replicas = %d needs high availability: standby JobManagers take over through "+
				"Kubernetes HA, without it each would run the job on its own", d.Version.JobManager.Replicas)
		}
		return nil
	}
	if errs := validation.IsValidLabelValue(ha.ClusterID); ha.ClusterID == "" || len(errs) > 0 {
		return fmt.Errorf("HA cluster id %q is invalid: it must be a label value: %s", ha.ClusterID, strings.Join(errs, "; "))
	}
	if !strings.Contains(ha.StorageDir, "://") && !strings.HasPrefix(ha.StorageDir, "file:/") {
		return fmt.Errorf("HA storage directory %q is not a URI of durable storage (e.g. s3://bucket/ha)", ha.StorageDir)
	}
	if _, set := d.Version.Env[EnvPodIP]; set {
		return fmt.Errorf("env %s is set by the provider in JobManager pods when high availability is on; rename it", EnvPodIP)
	}
	return nil
}

func deployment(app, name, ns string, labels, annotations map[string]string, owners []*metav1ac.OwnerReferenceApplyConfiguration,
	selector map[string]string, template *corev1ac.PodTemplateSpecApplyConfiguration, replicas int32, account string, c *corev1ac.ContainerApplyConfiguration,
) *appsv1ac.DeploymentApplyConfiguration {
	pod := corev1ac.PodSpec().
		// Service links would add env vars for every Service in the namespace.
		WithEnableServiceLinks(false).
		WithContainers(c).
		WithVolumes(corev1ac.Volume().
			WithName(ConfigVolumeName).
			WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(ConfigMapName(app))))
	if account != "" {
		// Flink's HA services reach the API server with this account's token.
		pod = pod.WithServiceAccountName(account).WithAutomountServiceAccountToken(true)
	}
	return appsv1ac.Deployment(name, ns).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithOwnerReferences(owners...).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithRevisionHistoryLimit(revisionHistoryLimit).
			// Never two generations side by side: two JobManagers with the same job id
			// would both restore and checkpoint, and old TaskManagers must not register
			// with a new JobManager.
			WithStrategy(appsv1ac.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selector)).
			WithTemplate(template.WithSpec(pod)))
}

func container(v spec.Version, args []string, env []*corev1ac.EnvVarApplyConfiguration, res corev1.ResourceList) *corev1ac.ContainerApplyConfiguration {
	c := corev1ac.Container().
		WithName(ContainerName).
		WithImage(v.Image).
		WithArgs(args...).
		WithEnv(env...).
		WithResources(corev1ac.ResourceRequirements().WithRequests(res).WithLimits(res)).
		WithVolumeMounts(corev1ac.VolumeMount().WithName(ConfigVolumeName).WithMountPath(ConfDir))
	if v.ImagePullPolicy != "" {
		c = c.WithImagePullPolicy(corev1.PullPolicy(v.ImagePullPolicy))
	}
	return c
}

func servicePort(name string, port int32) *corev1ac.ServicePortApplyConfiguration {
	return corev1ac.ServicePort().
		WithName(name).
		WithPort(port).
		WithTargetPort(intstr.FromString(name)).
		WithProtocol(corev1.ProtocolTCP)
}

func podResources(cpu float64, memory string) (corev1.ResourceList, error) {
	c, err := CPUQuantity(cpu)
	if err != nil {
		return nil, err
	}
	m, err := MemoryQuantity(memory)
	if err != nil {
		return nil, err
	}
	return corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: m}, nil
}

func envVars(env map[string]string) []*corev1ac.EnvVarApplyConfiguration {
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]*corev1ac.EnvVarApplyConfiguration, 0, len(names))
	for _, n := range names {
		out = append(out, corev1ac.EnvVar().WithName(n).WithValue(env[n]))
	}
	return out
}

// podRestartHash is the hash of the configuration that the pods carry, so that a change
// restarts them: all of it but parallelism.default. The job's parallelism changes in place
// (rescale, through the adaptive scheduler, with the ConfigMap updated for a JobManager that
// restarts later); any other parallelism change deploys a new job, whose id restarts the pods.
func podRestartHash(fv flinkconf.Version, cfg map[string]string, logConf string) (string, error) {
	withoutParallelism := maps.Clone(cfg)
	delete(withoutParallelism, flinkconf.KeyParallelism)
	confFile, err := flinkconf.RenderFile(fv, withoutParallelism)
	if err != nil {
		return "", err
	}
	return hashData(map[string]string{fv.ConfigFileName(): confFile, Log4jFile: logConf}), nil
}

// hashData hashes ConfigMap data deterministically (sorted keys, length-prefixed fields).
func hashData(data map[string]string) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(data[k]), data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func ownerRefAC(r metav1.OwnerReference) *metav1ac.OwnerReferenceApplyConfiguration {
	ac := metav1ac.OwnerReference().
		WithAPIVersion(r.APIVersion).
		WithKind(r.Kind).
		WithName(r.Name).
		WithUID(r.UID)
	if r.Controller != nil {
		ac = ac.WithController(*r.Controller)
	}
	if r.BlockOwnerDeletion != nil {
		ac = ac.WithBlockOwnerDeletion(*r.BlockOwnerDeletion)
	}
	return ac
}

// AppOwnerRef returns an owner reference to the application record ConfigMap (controller,
// blockOwnerDeletion), for Render: deleting the record then cascades to the cluster.
func AppOwnerRef(record *corev1.ConfigMap) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion:         "v1",
		Kind:               "ConfigMap",
		Name:               record.Name,
		UID:                record.UID,
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}
