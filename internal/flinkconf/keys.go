// Package flinkconf is the provider's knowledge of Flink's configuration: the keys it writes,
// the supported versions, memory sizes, and how a deployment becomes config.yaml (or
// flink-conf.yaml). It knows nothing of Kubernetes; internal/kube renders it into objects.
package flinkconf

import "strings"

// Configuration keys the provider writes itself.
const (
	KeyRPCAddress  = "jobmanager.rpc.address"
	KeyRPCPort     = "jobmanager.rpc.port"
	KeyRestPort    = "rest.port"
	KeyBlobPort    = "blob.server.port"
	KeyTaskSlots   = "taskmanager.numberOfTaskSlots"
	KeyParallelism = "parallelism.default"
	// KeyMaxParallelism fixes the number of key groups keyed state is written in.
	KeyMaxParallelism    = "pipeline.max-parallelism"
	KeyJobManagerMemory  = "jobmanager.memory.process.size"
	KeyTaskManagerMemory = "taskmanager.memory.process.size"
	// KeyShutdownOnFinish is false so a JobManager whose job was cancelled or failed stays up
	// and reports it, instead of exiting and being restarted by its Deployment, which would
	// silently submit the job again with empty state.
	KeyShutdownOnFinish = "execution.shutdown-on-application-finish"
	// KeyJavaOpts are the JVM options of every Flink process.
	KeyJavaOpts = "env.java.opts.all"
	// KeyCheckpointRetention decides whether checkpoints outlive a cancelled job.
	KeyCheckpointRetention = "execution.checkpointing.externalized-checkpoint-retention"

	// Kubernetes HA keys (spec.Deployment.HA).
	KeyHAType       = "high-availability.type"
	KeyHAStorageDir = "high-availability.storageDir"
	KeyClusterID    = "kubernetes.cluster-id"
	KeyKubeNS       = "kubernetes.namespace"

	// Restore keys, Flink 1.x.
	KeySavepointPath        = "execution.savepoint.path"
	KeySavepointIgnoreState = "execution.savepoint.ignore-unclaimed-state"
	// Restore keys, Flink 2.x.
	KeyStateRecoveryPath        = "execution.state-recovery.path"
	KeyStateRecoveryIgnoreState = "execution.state-recovery.ignore-unclaimed-state"
)

// OwnedKeys are the Flink configuration keys users may not set in
// flink_configuration, because the provider writes them (or they would break the cluster the
// provider renders). An entry ending in "*" is a prefix. Use IsOwnedKey to test a key.
var OwnedKeys = []string{
	KeyRPCAddress,
	KeyRPCPort,
	KeyRestPort,
	"rest.address",
	"rest.bind-port",
	KeyBlobPort,
	KeyTaskSlots,
	KeyParallelism,
	KeyJobManagerMemory,
	KeyTaskManagerMemory,
	KeyShutdownOnFinish,
	KeySavepointPath,
	KeySavepointIgnoreState,
	KeyStateRecoveryPath,
	KeyStateRecoveryIgnoreState,
	KeyClusterID,
	KeyKubeNS,
	"high-availability*",
}

// tunableHAPrefix are HA keys users may set: the leader election's timing.
const tunableHAPrefix = "high-availability.kubernetes.leader-election."

// IsOwnedKey reports whether key is one of OwnedKeys (prefix entries included).
func IsOwnedKey(key string) bool {
	if strings.HasPrefix(key, tunableHAPrefix) {
		return false
	}
	for _, k := range OwnedKeys {
		if p, ok := strings.CutSuffix(k, "*"); ok {
			if strings.HasPrefix(key, p) {
				return true
			}
		} else if key == k {
			return true
		}
	}
	return false
}

// Ports of the Flink processes inside the cluster.
const (
	RestPort = 8081
	RPCPort  = 6123
	BlobPort = 6124
	// DefaultMetricsPort is the Prometheus reporter's port (Flink's own default).
	DefaultMetricsPort = 9249
)

// The Prometheus reporter a version's metrics turn on: it ships in the distribution's
// plugins/metrics-prometheus, loaded by Flink's plugin manager as in the official image.
const (
	PrometheusReporterPrefix  = "metrics.reporter.prom."
	PrometheusReporterFactory = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
)

// Configuration files Flink reads from its conf directory.
const (
	// ConfigFileYAML is the configuration file of Flink >= 1.19 (standard YAML).
	ConfigFileYAML = "config.yaml"
	// ConfigFileLegacy is the configuration file of Flink < 1.19.
	ConfigFileLegacy = "flink-conf.yaml"
)

// Keys the provider reads from a version's configuration but does not write: every key of
// each directory, the current one first. Which of them a Flink version reads is
// Version.SavepointDirKeys and Version.CheckpointDirKeys.
var (
	SavepointDirKeys  = []string{KeySavepointDir, KeySavepointDirLegacy}
	CheckpointDirKeys = []string{KeyCheckpointDir, KeyCheckpointDirLegacy}
)

// Directory keys: the current ones came with Flink 1.20; the legacy ones are all Flink 1.18
// and 1.19 read, and deprecated aliases from 1.20 on.
const (
	KeySavepointDir        = "execution.checkpointing.savepoint-dir"
	KeySavepointDirLegacy  = "state.savepoints.dir"
	KeyCheckpointDir       = "execution.checkpointing.dir"
	KeyCheckpointDirLegacy = "state.checkpoints.dir"
)

const (
	KeyScheduler          = "jobmanager.scheduler"
	KeyCheckpointInterval = "execution.checkpointing.interval"
	// Restore (claim) mode of a savepoint: execution.state-recovery.* on Flink 2.x,
	// execution.savepoint-restore-mode on 1.x.
	KeyClaimMode     = "execution.state-recovery.claim-mode"
	KeyRestoreModeV1 = "execution.savepoint-restore-mode"
)

// Lookup returns the value of the first of keys set in cfg, or "".
func Lookup(cfg map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := cfg[k]; v != "" {
			return v
		}
	}
	return ""
}
