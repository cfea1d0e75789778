// Package kube renders the Kubernetes objects of one Flink standalone application cluster,
// applies them with server-side apply, waits for rollouts, tears clusters down, and keeps the
// provider's records (application and version ConfigMaps) and Events.
//
// Everything here is plain Go + client-go; the Terraform resources and the lifecycle
// orchestrator build on it. The naming and labelling helpers are exported so that tests and
// the lifecycle find objects exactly the way they were created.
package kube

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FieldManager is the server-side apply field manager used when Client.FieldManager is empty.
const FieldManager = "terraform-provider-flink"

// Label keys and values put on every object this package creates.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	// LabelAppVersion is the standard label for the version (spec.Version.Label), beside
	// LabelVersion, on the cluster objects and pods.
	LabelAppVersion = "app.kubernetes.io/version"
	// LabelVersion carries the version label (spec.Version.Label) on cluster objects and
	// version records.
	LabelVersion = "flink.flinkplatform.io/version"
	// LabelRecord marks record ConfigMaps: RecordApplication or RecordVersion.
	LabelRecord = "flink.flinkplatform.io/record"

	ManagedByValue = "terraform-provider-flink"

	ComponentJobManager  = "jobmanager"
	ComponentTaskManager = "taskmanager"
	ComponentConfig      = "config"
	ComponentRecord      = "record"
	// ComponentHA labels the ServiceAccount, Role and RoleBinding of Kubernetes HA.
	ComponentHA = "ha"

	RecordApplication = "application"
	RecordVersion     = "version"

	// AnnotationConfigHash is set on both pod templates to the hash of the rendered
	// ConfigMap data, so that a configuration change rolls the pods.
	AnnotationConfigHash = "flink.flinkplatform.io/config-hash"
	// AnnotationJobID is set on both pod templates to the job id, so that every new job gets
	// new pods: TaskManagers of the job before must not serve the next one (see Render).
	AnnotationJobID = "flink.flinkplatform.io/job-id"
	// The annotations Prometheus' kubernetes_sd scrape configurations commonly select on,
	// set on the pods of a version with metrics.scrape_annotations.
	AnnotationScrape     = "prometheus.io/scrape"
	AnnotationScrapePort = "prometheus.io/port"
	AnnotationScrapePath = "prometheus.io/path"
)

// Fixed ports and names inside the cluster.
const (
	ContainerName = "flink-main-container"

	PortNameRest    = "rest"
	PortNameMetrics = "metrics"
	// MetricsPath is where Flink's Prometheus reporter serves.
	MetricsPath  = "/metrics"
	PortNameRPC  = "rpc"
	PortNameBlob = "blob"

	// ConfDir is where the ConfigMap is mounted in the Flink containers.
	ConfDir = "/opt/flink/conf"
	// ConfigVolumeName is the pod volume holding the ConfigMap.
	ConfigVolumeName = "flink-config"

	// Log4jFile is the logging configuration the Flink docker entrypoint uses for
	// foreground processes.
	Log4jFile = "log4j-console.properties"

	// RecordDataKey is the ConfigMap data key holding a record's JSON.
	RecordDataKey = "record.json"
)

// Suffixes of the derived object names. The longest cluster object suffix decides how long
// an application name may be (Service names are DNS-1035 labels of at most 63 characters).
const (
	suffixConfig        = "-config"
	suffixRest          = "-rest"
	suffixJobManager    = "-jobmanager"
	suffixTaskManager   = "-taskmanager"
	suffixAppRecord     = "-flink-application"
	suffixVersionRecord = "-flink-version-"
	suffixAccount       = "-flink"
	suffixHARole        = "-flink-ha"
	suffixClusterID     = "-g"
)

// MaxApplicationNameLength is the longest application name for which every derived object
// name is valid (a Service "<app>-jobmanager" must be a DNS-1035 label).
const MaxApplicationNameLength = validation.DNS1035LabelMaxLength - len(suffixJobManager)

// ConfigMapName is the name of the ConfigMap holding the Flink and log4j configuration.
func ConfigMapName(app string) string { return app + suffixConfig }

// RestServiceName is the name of the Service exposing the Flink REST API (port "rest", 8081).
func RestServiceName(app string) string { return app + suffixRest }

// JobManagerServiceName is the name of the Service for JobManager RPC (6123) and blob (6124).
// It is also the value of jobmanager.rpc.address.
func JobManagerServiceName(app string) string { return app + suffixJobManager }

// JobManagerDeploymentName is the name of the JobManager Deployment.
func JobManagerDeploymentName(app string) string { return app + suffixJobManager }

// TaskManagerDeploymentName is the name of the TaskManager Deployment.
func TaskManagerDeploymentName(app string) string { return app + suffixTaskManager }

// ServiceAccountName is the name of the ServiceAccount the pods of app run as when Kubernetes
// HA is on.
func ServiceAccountName(app string) string { return app + suffixAccount }

// HARoleName is the name of the Role (and its RoleBinding) that lets app's pods keep
// Flink's HA data in ConfigMaps.
func HARoleName(app string) string { return app + suffixHARole }

// HAClusterID is kubernetes.cluster-id of generation gen of app. Flink names and labels its HA
// ConfigMaps after it, so each generation's HA data is separate from every other's.
func HAClusterID(app string, gen int64) string {
	return fmt.Sprintf("%s%s%d", app, suffixClusterID, gen)
}

// ParseHAClusterID returns the generation of one of app's cluster ids (see HAClusterID).
func ParseHAClusterID(app, clusterID string) (gen int64, ok bool) {
	rest, found := strings.CutPrefix(clusterID, app+suffixClusterID)
	if !found || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	gen, err := strconv.ParseInt(rest, 10, 64)
	return gen, err == nil && gen >= 0
}

// Labels Flink's Kubernetes HA services put on their ConfigMaps (1.x adds
// configmap-type=high-availability, 2.x does not).
const (
	FlinkLabelApp        = "app"
	FlinkLabelType       = "type"
	FlinkLabelTypeNative = "flink-native-kubernetes"
)

// AppRecordName is the name of the application record ConfigMap.
func AppRecordName(app string) string { return app + suffixAppRecord }

// VersionRecordName is the name of the version record ConfigMap of version label.
func VersionRecordName(app, label string) string { return app + suffixVersionRecord + label }

// RestHost is the in-cluster DNS name of the REST Service: "<app>-rest.<ns>.svc".
func RestHost(app, ns string) string { return RestServiceName(app) + "." + ns + ".svc" }

// RestURL is the in-cluster base URL of the Flink REST API.
func RestURL(app, ns string) string {
	return fmt.Sprintf("http://%s:%d", RestHost(app, ns), flinkconf.RestPort)
}

// AppLabels are the labels that identify every object of application app.
func AppLabels(app string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelName: app}
}

// AppSelector is the label selector (string form) matching every object of application app,
// records included.
func AppSelector(app string) string {
	return LabelManagedBy + "=" + ManagedByValue + "," + LabelName + "=" + app
}

// PodSelector is the label selector matching the JobManager and TaskManager pods of app.
func PodSelector(app string) string {
	return AppSelector(app) + "," + LabelComponent + " in (" + ComponentJobManager + "," + ComponentTaskManager + ")"
}

// ComponentSelectorLabels are the (immutable) Deployment selector and Service selector of one
// component. They never include the version, so a new version can be rolled onto the same
// Deployment.
func ComponentSelectorLabels(app, component string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelName: app, LabelComponent: component}
}

// VersionRecordSelector matches the version records of app; app == "" matches every
// application in the namespace.
func VersionRecordSelector(app string) string {
	return recordSelector(app, RecordVersion)
}

// AppRecordSelector matches application records; app == "" matches every application.
func AppRecordSelector(app string) string {
	return recordSelector(app, RecordApplication)
}

func recordSelector(app, kind string) string {
	s := LabelManagedBy + "=" + ManagedByValue + "," + LabelRecord + "=" + kind
	if app != "" {
		s += "," + LabelName + "=" + app
	}
	return s
}

// ValidateApplicationName checks that app can name an application: a DNS-1035 label short
// enough that every derived object name is valid.
func ValidateApplicationName(app string) error {
	if app == "" {
		return fmt.Errorf("application name must not be empty")
	}
	if errs := validation.IsDNS1035Label(app); len(errs) > 0 {
		return fmt.Errorf("application name %q is invalid: %s", app, strings.Join(errs, "; "))
	}
	if len(app) > MaxApplicationNameLength {
		return fmt.Errorf("application name %q is too long: at most %d characters, so that the Service %q is a valid name",
			app, MaxApplicationNameLength, JobManagerServiceName(app))
	}
	return nil
}

// ValidateVersionLabel checks that label can name a version of app: a DNS-1123 label (it is
// used as a label value) such that the version record name is a valid ConfigMap name.
func ValidateVersionLabel(app, label string) error {
	if label == "" {
		return fmt.Errorf("version label must not be empty")
	}
	if errs := validation.IsDNS1123Label(label); len(errs) > 0 {
		return fmt.Errorf("version label %q is invalid: %s", label, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(VersionRecordName(app, label)); len(errs) > 0 {
		return fmt.Errorf("version label %q is invalid: record name %q: %s", label, VersionRecordName(app, label), strings.Join(errs, "; "))
	}
	return nil
}

// ValidateNamespace checks a namespace name.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("namespace must not be empty")
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("namespace %q is invalid: %s", ns, strings.Join(errs, "; "))
	}
	return nil
}

// PodMetadataFor is what the pods of a generation of version carry besides the provider's
// own labels: the application's labels and annotations and the version labels.
func PodMetadataFor(labels, annotations map[string]string, version string) *spec.PodMetadata {
	return &spec.PodMetadata{
		Labels:      MergeLabels(labels, map[string]string{LabelVersion: version, LabelAppVersion: version}),
		Annotations: MergeLabels(annotations),
	}
}

// MergeLabels returns user labels overlaid with the provider's labels (the provider's win).
func MergeLabels(user map[string]string, ours ...map[string]string) map[string]string {
	out := make(map[string]string, len(user)+8)
	for k, v := range user {
		out[k] = v
	}
	for _, m := range ours {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Names, labels and annotations of the application Lease and the snapshot records.
const (
	// RecordLock is the LabelRecord value of the application Lease (see LockName).
	RecordLock = "lock"
	// RecordSnapshot is the LabelRecord value of snapshot record ConfigMaps.
	RecordSnapshot = "snapshot"

	// LabelSnapshotOrigin carries SnapshotRecord.Origin on snapshot records, so that lists
	// can filter by origin server-side. (The version label is LabelVersion.)
	LabelSnapshotOrigin = "flink.flinkplatform.io/snapshot-origin"

	// AnnotationLockOperation on the application Lease says what the holder is doing
	// (LeaseHolder.Operation).
	AnnotationLockOperation = "flink.flinkplatform.io/lock-operation"

	suffixLock     = "-flink-lock"
	suffixSnapshot = "-snap-"
)

// LockName is the name of the coordination.k8s.io/v1 Lease that serialises operations on
// application app.
func LockName(app string) string { return app + suffixLock }

// SnapshotRecordSelector matches snapshot records of app; app == "" matches every
// application in the namespace.
func SnapshotRecordSelector(app string) string {
	return recordSelector(app, RecordSnapshot)
}

// NewSnapshotName returns a new snapshot record name "<app>-snap-<UTC yyyymmddhhmmss>-<6
// random hex>": a DNS-1123 subdomain, unique, and for one application sortable by creation
// time (to the second).
func NewSnapshotName(app string, now time.Time) string {
	return app + suffixSnapshot + now.UTC().Format("20060102150405") + "-" + randomHex(3)
}

// RecordLabels are the labels of the provider's own objects of application app: its
// records (kind RecordApplication, RecordVersion, RecordSnapshot) and its Lease (RecordLock).
func RecordLabels(app, kind string) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelName:      app,
		LabelComponent: ComponentRecord,
		LabelRecord:    kind,
	}
}
