package flinkconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Configuration returns the complete Flink configuration of deployment d: the user's
// flink_configuration plus the keys the provider owns. It fails when the user sets an owned
// key or a size is invalid.
func Configuration(d spec.Deployment, rpcAddress string) (map[string]string, error) {
	v := d.Version
	fv, err := ParseVersion(v.FlinkVersion)
	if err != nil {
		return nil, err
	}
	var owned []string
	for k := range v.FlinkConfiguration {
		if IsOwnedKey(k) {
			owned = append(owned, k)
		}
	}
	if len(owned) > 0 {
		sort.Strings(owned)
		return nil, fmt.Errorf("flink_configuration sets %s, which the provider manages; remove %s",
			quoteList(owned), pluralIt(len(owned)))
	}
	jm, err := ParseMemory(v.JobManager.Memory)
	if err != nil {
		return nil, fmt.Errorf("job manager memory: %w", err)
	}
	tm, err := ParseMemory(v.TaskManager.Memory)
	if err != nil {
		return nil, fmt.Errorf("task manager memory: %w", err)
	}
	if v.Parallelism < 1 {
		return nil, fmt.Errorf("parallelism must be at least 1, got %d", v.Parallelism)
	}
	if err := checkMetrics(v); err != nil {
		return nil, err
	}
	cfg := make(map[string]string, len(v.FlinkConfiguration)+12)
	for k, val := range v.FlinkConfiguration {
		cfg[k] = val
	}
	cfg[KeyRPCAddress] = rpcAddress
	cfg[KeyRPCPort] = strconv.Itoa(RPCPort)
	cfg[KeyRestPort] = strconv.Itoa(RestPort)
	cfg[KeyBlobPort] = strconv.Itoa(BlobPort)
	cfg[KeyTaskSlots] = strconv.FormatInt(TaskSlots(v), 10)
	cfg[KeyParallelism] = strconv.FormatInt(v.Parallelism, 10)
	cfg[KeyJobManagerMemory] = FormatMemory(jm)
	cfg[KeyTaskManagerMemory] = FormatMemory(tm)
	cfg[KeyShutdownOnFinish] = "false"
	// The ConfigMap replaces the image's conf/, whose config.yaml carries the module options
	// Flink needs on Java 17+; keep them in front of the user's own JVM options.
	if !strings.Contains(cfg[KeyJavaOpts], "--add-opens=java.base/java.lang=") {
		cfg[KeyJavaOpts] = strings.TrimSpace(JDKModuleOptions + " " + cfg[KeyJavaOpts])
	}
	// Keep the latest checkpoint when a job is cancelled (Flink's default deletes it): a
	// last_state upgrade restores it, and nothing else the job leaves behind holds its state.
	if _, set := cfg[KeyCheckpointRetention]; !set {
		cfg[KeyCheckpointRetention] = "RETAIN_ON_CANCELLATION"
	}
	if m := v.Metrics; m != nil {
		cfg[PrometheusReporterPrefix+"factory.class"] = PrometheusReporterFactory
		cfg[PrometheusReporterPrefix+"port"] = strconv.Itoa(int(m.Port))
	}
	if ha := d.HA; ha != nil {
		cfg[KeyHAType] = "kubernetes"
		cfg[KeyHAStorageDir] = ha.StorageDir
		cfg[KeyClusterID] = ha.ClusterID
		cfg[KeyKubeNS] = d.Namespace
	}
	if d.RestorePath != "" {
		pathKey, ignoreKey := fv.RestoreKeys()
		cfg[pathKey] = d.RestorePath
		if d.AllowNonRestoredState {
			cfg[ignoreKey] = "true"
		}
	}
	return cfg, nil
}

// RenderFile renders cfg as the content of the configuration file of Flink version fv:
// for config.yaml (>= 1.19) one flat "key: value" line per key with values quoted where YAML
// would otherwise change them; for flink-conf.yaml the legacy "key: value" lines, which
// cannot hold newlines or '#'. Lines are sorted by key.
func RenderFile(fv Version, cfg map[string]string) (string, error) {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	standard := fv.AtLeast(1, 19)
	var b strings.Builder
	b.WriteString("# Rendered by terraform-provider-flink. Changes made here are overwritten.\n")
	for _, k := range keys {
		if err := CheckKey(k); err != nil {
			return "", err
		}
		val := cfg[k]
		if err := CheckValue(fv, k, val); err != nil {
			return "", err
		}
		if standard {
			fmt.Fprintf(&b, "%s: %s\n", k, yamlScalar(val))
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", k, strings.TrimSpace(val))
	}
	return b.String(), nil
}

// CheckKey is the rule for a Flink configuration key: keys are written unquoted, so
// they are limited to characters that read back as the same plain key in both file formats.
// The plan-time validator of flink_configuration uses it too, so the two cannot disagree.
func CheckKey(k string) error {
	if k == "" {
		return fmt.Errorf("flink_configuration has an empty key; remove it")
	}
	for i, r := range k {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '$' ||
			(i > 0 && strings.ContainsRune(".-/+@", r))
		if !ok {
			return fmt.Errorf("flink_configuration key %q is invalid: keys may contain letters, digits and . _ - $ / + @, "+
				"and start with a letter, digit, _ or $; use the key exactly as Flink's documentation spells it", k)
		}
	}
	return nil
}

// CheckValue refuses a directory key Flink fv does not read, and a value the configuration
// file of fv cannot hold. config.yaml
// (Flink >= 1.19) quotes anything; flink-conf.yaml has no quoting, so a line break would end
// the value and '#' would start a comment that silently cuts it short.
func CheckValue(fv Version, k, val string) error {
	if err := fv.checkDirectoryKey(k); err != nil {
		return err
	}
	if fv.AtLeast(1, 19) {
		return nil
	}
	if strings.ContainsAny(val, "\r\n") {
		return fmt.Errorf("flink_configuration %q: the value contains a line break, which flink-conf.yaml (Flink < 1.19) cannot hold; "+
			"put the value on one line, or use flink_version 1.19 or later", k)
	}
	if strings.Contains(val, "#") {
		return fmt.Errorf("flink_configuration %q: the value contains '#', which flink-conf.yaml (Flink < 1.19) treats as the start of "+
			"a comment; remove the '#', or use flink_version 1.19 or later, whose config.yaml can hold it", k)
	}
	return nil
}

// yamlScalar returns v as a YAML scalar that reads back as exactly the string v (or, for
// plain integers and true/false, as the number or boolean Flink converts back to the same
// string). Plain form is used where it is unambiguous, double quotes (JSON escaping, which is
// valid YAML) otherwise.
func yamlScalar(v string) string {
	if yamlPlainSafe(v) {
		return v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings always encode
	return strings.TrimSuffix(buf.String(), "\n")
}

func yamlPlainSafe(v string) bool {
	if v == "" || v != strings.TrimSpace(v) {
		return false
	}
	if v == "true" || v == "false" || isPlainInt(v) {
		return true
	}
	lower := strings.ToLower(v)
	switch strings.TrimLeft(lower, "+-") {
	case "null", "~", "yes", "no", "on", "off", "y", "n", "true", "false", ".inf", ".nan":
		return false
	}
	// Number-like strings (floats, hex, octal, YAML 1.1 sexagesimals and timestamps): quote,
	// so "1.10" stays "1.10" rather than becoming 1.1.
	if numberLike(v) {
		return false
	}
	c0 := v[0]
	switch {
	case c0 >= 'a' && c0 <= 'z', c0 >= 'A' && c0 <= 'Z', c0 >= '0' && c0 <= '9', c0 == '/', c0 == '_', c0 == '$', c0 == '.':
	case c0 == '-' && len(v) > 1 && (v[1] >= 'a' && v[1] <= 'z' || v[1] >= 'A' && v[1] <= 'Z'):
	default:
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		switch c {
		case '#', '{', '}', '[', ']', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '\\':
			return false
		case ':':
			if i == len(v)-1 || v[i+1] == ' ' {
				return false
			}
		}
	}
	return true
}

func isPlainInt(v string) bool {
	s := strings.TrimPrefix(v, "-")
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func numberLike(v string) bool {
	s := strings.TrimLeft(v, "+-")
	if s == "" {
		return false
	}
	if !(s[0] >= '0' && s[0] <= '9') && !(s[0] == '.' && len(s) > 1 && s[1] >= '0' && s[1] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' ||
			strings.IndexByte("xXoO_.:+-", c) >= 0) {
			return false
		}
	}
	return true
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func pluralIt(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// TaskSlots is the number of task slots per TaskManager of v (1 when unset).
func TaskSlots(v spec.Version) int64 {
	if v.TaskManager.TaskSlots > 0 {
		return v.TaskManager.TaskSlots
	}
	return 1
}

// TaskManagers is the number of TaskManagers of v: as set, else enough slots for its
// parallelism.
func TaskManagers(v spec.Version) int64 {
	if v.TaskManager.Replicas > 0 {
		return v.TaskManager.Replicas
	}
	slots := TaskSlots(v)
	return (v.Parallelism + slots - 1) / slots
}

// DefaultLog4j is the log4j2 configuration used when the version sets no
// log_configuration: everything to the console (kubectl logs), noisy libraries quieter.
const DefaultLog4j = `# Rendered by terraform-provider-flink. Set log_configuration on the version to replace it.
monitorInterval = 30

rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender

logger.pekko.name = org.apache.pekko
logger.pekko.level = INFO
logger.akka.name = akka
logger.akka.level = INFO
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
logger.shaded_zookeeper.name = org.apache.flink.shaded.zookeeper3
logger.shaded_zookeeper.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4.io.netty.channel.DefaultChannelPipeline
logger.netty.level = ERROR

appender.console.name = ConsoleAppender
appender.console.type = Console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
`

// JDKModuleOptions are the --add-exports/--add-opens options of Flink's default config.yaml
// (1.20; 2.x needs a subset), without which Flink fails on Java 17 and later.
const JDKModuleOptions = "--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED " +
	"--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED " +
	"--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED " +
	"--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED " +
	"--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED " +
	"--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED " +
	"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.text=ALL-UNNAMED " +
	"--add-opens=java.base/java.time=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED " +
	"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED " +
	"--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED"

// checkMetrics refuses a metrics port that is taken and a reporter configured twice.
func checkMetrics(v spec.Version) error {
	m := v.Metrics
	if m == nil {
		return nil
	}
	switch m.Port {
	case RestPort, RPCPort, BlobPort:
		return fmt.Errorf("metrics.port %d is taken by Flink's REST, RPC or blob server (%d, %d, %d); choose another, e.g. %d",
			m.Port, RestPort, RPCPort, BlobPort, DefaultMetricsPort)
	}
	if m.Port < 1024 || m.Port > 65535 {
		return fmt.Errorf("metrics.port %d is not between 1024 and 65535", m.Port)
	}
	var set []string
	for k := range v.FlinkConfiguration {
		if strings.HasPrefix(k, PrometheusReporterPrefix) {
			set = append(set, k)
		}
	}
	if len(set) > 0 {
		sort.Strings(set)
		return fmt.Errorf("flink_configuration sets %s, which metrics configures; remove %s, or metrics and configure the reporter yourself",
			quoteList(set), pluralIt(len(set)))
	}
	return nil
}
