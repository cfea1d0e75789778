// Package spec holds the plain-Go description of applications and versions that the
// Terraform resources, the Kubernetes renderer and the lifecycle orchestrator share.
// It imports nothing from Terraform or Kubernetes so every layer can use it.
package spec

import "fmt"

// Version is one immutable version of an application (flink_application_version).
// It is stored as JSON in the version record, so field names are part of the record format.
type Version struct {
	Namespace   string `json:"namespace"`
	Application string `json:"application"`
	// Label is the version's name, e.g. "v3": a DNS-1123 label, unique per application.
	Label           string `json:"label"`
	Description     string `json:"description,omitempty"`
	ParentVersionID string `json:"parentVersionId,omitempty"`

	Image           string   `json:"image"`
	ImagePullPolicy string   `json:"imagePullPolicy,omitempty"`
	JarURI          string   `json:"jarUri"`
	EntryClass      string   `json:"entryClass"`
	Args            []string `json:"args,omitempty"`
	// FlinkVersion is "major.minor", e.g. "1.20" or "2.1".
	FlinkVersion       string            `json:"flinkVersion"`
	Parallelism        int64             `json:"parallelism"`
	FlinkConfiguration map[string]string `json:"flinkConfiguration,omitempty"`
	JobManager         JobManager        `json:"jobManager"`
	TaskManager        TaskManager       `json:"taskManager"`
	Env                map[string]string `json:"env,omitempty"`
	// LogConfiguration replaces the log4j-console.properties Flink ships, when set.
	LogConfiguration string `json:"logConfiguration,omitempty"`
	// EnvFromSecrets are environment variables taken from keys of existing Secrets
	// (secretKeyRef). Only the references are in the record, never a value.
	EnvFromSecrets map[string]SecretKeyRef `json:"envFromSecrets,omitempty"`
	// FlinkConfigurationSecrets name existing Secrets whose keys are Flink configuration keys,
	// merged into the configuration file when a pod starts.
	FlinkConfigurationSecrets []string `json:"flinkConfigurationSecrets,omitempty"`
	// StatefulOperatorUIDs declare the uids of the job's operators that keep state, so a plan
	// can tell, before it stops anything, which state a restore would drop or not find. A
	// declaration about the job, not something Flink or Kubernetes sees.
	StatefulOperatorUIDs []string `json:"statefulOperatorUids,omitempty"`
	// Bounded declares that the job ends by itself (its sources are bounded): FINISHED is
	// its success, not a job that ended behind Terraform's back. Also a declaration only.
	Bounded bool `json:"bounded,omitempty"`
	// Metrics turns on Flink's Prometheus reporter in the JobManager and TaskManagers (nil:
	// off).
	Metrics *Metrics `json:"metrics,omitempty"`
}

// Metrics is the Prometheus endpoint of a version's Flink processes.
type Metrics struct {
	// Port is the reporter's port on every JobManager and TaskManager pod, named "metrics".
	Port int32 `json:"port"`
	// ScrapeAnnotations puts prometheus.io/scrape, port and path on the pods.
	ScrapeAnnotations bool `json:"scrapeAnnotations,omitempty"`
}

// SecretKeyRef names one key of a Secret in the application's namespace.
type SecretKeyRef struct {
	Secret string `json:"secret"`
	Key    string `json:"key"`
}

// JobManager sizes the JobManager pods. CPU is in cores ("0.5", "2"); Memory is a Flink
// memory size ("1024m", "2g") used both as the pod limit and jobmanager.memory.process.size.
type JobManager struct {
	CPU      float64 `json:"cpu"`
	Memory   string  `json:"memory"`
	Replicas int64   `json:"replicas"`
}

// TaskManager sizes the TaskManager pods.
type TaskManager struct {
	CPU       float64 `json:"cpu"`
	Memory    string  `json:"memory"`
	Replicas  int64   `json:"replicas"`
	TaskSlots int64   `json:"taskSlots"`
}

// ID returns the version's Terraform id, "namespace/application/label".
func (v Version) ID() string { return v.Namespace + "/" + v.Application + "/" + v.Label }

// Deployment is what one rendering of an application cluster needs: the version to run
// and the per-deployment facts the lifecycle decides.
type Deployment struct {
	Namespace   string
	Application string
	Version     Version
	// JobID is the fixed 32-hex-digit job id passed to standalone-job (--job-id).
	JobID string
	// RestorePath is the savepoint or checkpoint to start from; empty starts with no state.
	RestorePath           string
	AllowNonRestoredState bool
	// Suspended renders the cluster with zero JobManager and TaskManager replicas.
	Suspended bool
	// Labels and Annotations from flink_streaming_application, put on every object.
	Labels      map[string]string
	Annotations map[string]string
	// Pods is what the JobManager and TaskManager pods carry besides the provider's own
	// labels: fixed when a generation is deployed, so changing labels later restarts no pod
	// (nil: the pods carry only the provider's labels, as before pods carried more).
	Pods *PodMetadata
	// Secret is the provider-owned Secret with the application's sensitive settings (nil:
	// none). Rendering needs only its name and keys; the values never pass through here.
	Secret *OwnedSecret
	// HA turns on Kubernetes high availability; nil renders none.
	HA *HighAvailability
}

// PodMetadata is the labels and annotations of one generation's pods.
type PodMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// HighAvailability is the Kubernetes HA of one deployment (one generation) of an application.
type HighAvailability struct {
	// ClusterID is kubernetes.cluster-id: new for every generation, so that a new deployment
	// never recovers an older job's HA data.
	ClusterID string
	// StorageDir is high-availability.storageDir: durable storage Flink writes its job graph,
	// checkpoint pointers and job results to.
	StorageDir string
}

// OwnedSecret describes the Secret in which the provider keeps an application's sensitive
// settings: its name and its keys, never the values. Records may hold it.
type OwnedSecret struct {
	Name string `json:"name"`
	// FlinkConfigurationKeys are merged into the Flink configuration file at pod start.
	FlinkConfigurationKeys []string `json:"flinkConfigurationKeys,omitempty"`
	// EnvNames become environment variables of the Flink containers.
	EnvNames []string `json:"envNames,omitempty"`
}

// SecretValues are an application's sensitive settings (flink_streaming_application's
// secret_* arguments). They exist only in memory and in the Secret the provider owns: never
// in a record, an annotation, an error or a log line. Printing one shows no value.
type SecretValues struct {
	FlinkConfiguration map[string]string
	Env                map[string]string
}

// Empty reports whether there is no sensitive setting at all.
func (s SecretValues) Empty() bool { return len(s.FlinkConfiguration) == 0 && len(s.Env) == 0 }

// String keeps the values out of anything formatted with %v or %s.
func (s SecretValues) String() string {
	return fmt.Sprintf("secret values (%d Flink configuration keys, %d environment variables)", len(s.FlinkConfiguration), len(s.Env))
}

// GoString keeps the values out of %#v.
func (s SecretValues) GoString() string { return s.String() }
