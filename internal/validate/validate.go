// Package validate holds the attribute validators that turn bad input into a plan-time error
// naming the attribute and the reason, instead of a failure halfway through an apply.
package validate

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/snapshots"
)

// stringCheck adapts a plain func(string) error into a framework string validator, so each
// rule is written once as ordinary Go and tested without Terraform.
type stringCheck struct {
	description string
	check       func(string) error
}

func (v stringCheck) Description(context.Context) string         { return v.description }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.description }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+v.description, err.Error())
	}
}

// String wraps a check as a validator; exported so resources can add one-off rules.
func String(description string, check func(string) error) validator.String {
	return stringCheck{description: description, check: check}
}

// DNSLabel accepts a Kubernetes DNS-1123 label of at most max characters. max is lower than
// 63 where the provider appends suffixes (e.g. "-taskmanager") to build object names.
func DNSLabel(max int) validator.String {
	return String("Kubernetes name", func(s string) error { return CheckDNSLabel(s, max) })
}

// CheckDNSLabel is DNSLabel's rule.
func CheckDNSLabel(s string, max int) error {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid Kubernetes name: %s", s, strings.Join(errs, "; "))
	}
	if len(s) > max {
		return fmt.Errorf("%q is %d characters; at most %d are allowed here because the provider derives "+
			"longer object names from it", s, len(s), max)
	}
	return nil
}

// float64Check is stringCheck for numbers.
type float64Check struct {
	description string
	check       func(float64) error
}

func (v float64Check) Description(context.Context) string         { return v.description }
func (v float64Check) MarkdownDescription(context.Context) string { return v.description }

func (v float64Check) ValidateFloat64(_ context.Context, req validator.Float64Request, resp *validator.Float64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueFloat64()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+v.description, err.Error())
	}
}

// CPU accepts a number of cores the renderer can turn into a Kubernetes quantity; it is
// kube.CPUQuantity itself, so plan and render agree on the bounds and the rounding.
func CPU() validator.Float64 {
	return float64Check{description: "CPU cores", check: CheckCPU}
}

// CheckCPU is CPU's rule.
func CheckCPU(cores float64) error {
	if _, err := kube.CPUQuantity(cores); err != nil {
		return fmt.Errorf("%v; use a number of cores such as 0.5 or 2", err)
	}
	return nil
}

// ApplicationName accepts a name every object derived from it can carry (Services need a
// DNS-1035 label, so it starts with a letter and leaves room for "-jobmanager").
func ApplicationName() validator.String {
	return String("application name", kube.ValidateApplicationName)
}

// MemorySize accepts a Flink memory size such as "1024m", "2g" or "1536mb".
func MemorySize() validator.String {
	return String("memory size", func(s string) error {
		_, err := flinkconf.ParseMemory(s)
		return err
	})
}

// FlinkVersion accepts a supported "major.minor" Flink release (flinkconf.Supported).
func FlinkVersion() validator.String {
	return String("Flink version", flinkconf.CheckSupported)
}

// jarSchemes are the URI schemes Flink can load a job jar from in application mode.
var jarSchemes = []string{"local", "file", "http", "https", "s3", "s3a", "s3p", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "hdfs"}

// JarURI accepts a job jar location with a scheme Flink can fetch.
func JarURI() validator.String {
	return String("jar URI", func(s string) error {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return fmt.Errorf("%q is not a URI; use e.g. local:///opt/flink/usrlib/job.jar or s3://bucket/job.jar", s)
		}
		for _, scheme := range jarSchemes {
			if u.Scheme == scheme {
				if u.Path == "" || strings.HasSuffix(u.Path, "/") {
					return fmt.Errorf("%q names a directory, not a jar file", s)
				}
				return nil
			}
		}
		return fmt.Errorf("scheme %q of %q is not one Flink can load a jar from; use one of %s",
			u.Scheme, s, strings.Join(jarSchemes, ", "))
	})
}

var javaClassName = regexp.MustCompile(`^([\p{L}_$][\p{L}\p{N}_$]*\.)*[\p{L}_$][\p{L}\p{N}_$]*$`)

// JavaClassName accepts a fully qualified Java class name such as com.example.FraudJob.
func JavaClassName() validator.String {
	return String("Java class name", func(s string) error {
		if !javaClassName.MatchString(s) {
			return fmt.Errorf("%q is not a Java class name; expected e.g. com.example.FraudDetectionJob", s)
		}
		return nil
	})
}

// BlobURL accepts a gocloud.dev/blob bucket URL with a linked driver.
func BlobURL() validator.String {
	return String("snapshot storage URL", snapshots.ValidateURL)
}

// HTTPURL accepts an absolute http(s) URL.
func HTTPURL() validator.String {
	return String("URL", func(s string) error {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q is not an http:// or https:// URL", s)
		}
		return nil
	})
}

// URLTemplate accepts an http(s) URL template that mentions {name}.
func URLTemplate() validator.String {
	return String("URL template", func(s string) error {
		if !strings.Contains(s, "{name}") {
			return fmt.Errorf("%q must contain {name} (and usually {namespace}) so each application gets its own URL", s)
		}
		expanded := strings.NewReplacer("{name}", "app", "{namespace}", "ns").Replace(s)
		u, err := url.Parse(expanded)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q is not an http:// or https:// URL template", s)
		}
		return nil
	})
}

// flinkConfigKeys rejects configuration keys the provider sets itself.
type flinkConfigKeys struct{}

// FlinkConfigurationKeys rejects flink_configuration keys the provider owns (restore path,
// ports, HA, addresses): setting them would break the deployment or bypass the lifecycle.
func FlinkConfigurationKeys() validator.Map { return flinkConfigKeys{} }

func (flinkConfigKeys) Description(context.Context) string {
	return "keys owned by the provider may not be set"
}
func (v flinkConfigKeys) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (flinkConfigKeys) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for key := range req.ConfigValue.Elements() {
		if reason := OwnedConfigKey(key); reason != "" {
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(key), "Flink configuration key owned by the provider", reason)
		}
	}
}

// OwnedConfigKey says why key may not be set by users, or "" if it may.
func OwnedConfigKey(key string) string {
	k := strings.TrimSpace(key)
	if !flinkconf.IsOwnedKey(k) {
		return ""
	}
	if strings.HasPrefix(k, "high-availability") || strings.HasPrefix(k, "kubernetes.") {
		return fmt.Sprintf("%q is set by the provider, which configures Kubernetes HA itself: use high_availability on the "+
			"flink_streaming_application. (The leader election's timing, high-availability.kubernetes.leader-election.*, may "+
			"be set.) Remove the key.", key)
	}
	return fmt.Sprintf("%q is set by the provider: %s", key, ownedKeyHint(k))
}

func ownedKeyHint(key string) string {
	switch {
	case strings.Contains(key, "savepoint") || strings.Contains(key, "state-recovery"):
		return "the restore path comes from the application's restore settings and the snapshot trail."
	case strings.HasSuffix(key, "memory.process.size"):
		return "use job_manager.memory / task_manager.memory."
	case key == "taskmanager.numberOfTaskSlots":
		return "use task_manager.task_slots."
	case key == "parallelism.default":
		return "use parallelism."
	case key == flinkconf.KeyShutdownOnFinish:
		return "the JobManager must stay up after its job ends so the provider can see how it ended."
	default:
		return "addresses and ports are fixed so the provider's Services can reach the cluster."
	}
}

// FlinkConfigurationKey accepts a flink_configuration key the renderer can write. It is
// flinkconf.CheckKey, the renderer's own rule, so a key that passes plan also renders.
func FlinkConfigurationKey() validator.String {
	return String("Flink configuration key", flinkconf.CheckKey)
}

// configFitsVersion refuses flink_configuration values that the configuration file of the
// configured flink_version cannot hold. It needs both attributes, hence a resource-level
// validator rather than one on either attribute.
type configFitsVersion struct {
	flinkVersion, configuration path.Path
}

// FlinkConfigurationFitsVersion checks each value of the map attribute at configuration with
// flinkconf.CheckValue for the Flink version in the string attribute at flinkVersion, and
// points an error at the offending key.
func FlinkConfigurationFitsVersion(flinkVersion, configuration path.Path) resource.ConfigValidator {
	return configFitsVersion{flinkVersion: flinkVersion, configuration: configuration}
}

func (v configFitsVersion) Description(context.Context) string {
	return "flink_configuration values must fit the configuration file of flink_version (no '#' or line breaks before Flink 1.19)"
}
func (v configFitsVersion) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v configFitsVersion) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var version types.String
	var cfg types.Map
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, v.flinkVersion, &version)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, v.configuration, &cfg)...)
	if resp.Diagnostics.HasError() || version.IsNull() || version.IsUnknown() || cfg.IsNull() || cfg.IsUnknown() {
		return
	}
	fv, err := flinkconf.ParseVersion(version.ValueString())
	if err != nil {
		return // flink_version's own validator reports it
	}
	for key, elem := range cfg.Elements() {
		val, ok := elem.(types.String)
		if !ok || val.IsNull() || val.IsUnknown() {
			continue
		}
		if err := flinkconf.CheckValue(fv, key, val.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(v.configuration.AtMapKey(key), "Flink configuration value not possible in "+
				fv.ConfigFileName(), err.Error())
		}
	}
}

// jarFitsVersion refuses a jar_uri the configured flink_version cannot run (Flink 1.18 runs the
// job only from the image's usrlib directory): a resource-level validator, as it needs both.
type jarFitsVersion struct {
	flinkVersion, jarURI path.Path
}

// JarURIFitsVersion checks the string attribute at jarURI with flinkconf.CheckJarURI, the
// renderer's own rule, for the Flink version in the string attribute at flinkVersion.
func JarURIFitsVersion(flinkVersion, jarURI path.Path) resource.ConfigValidator {
	return jarFitsVersion{flinkVersion: flinkVersion, jarURI: jarURI}
}

func (v jarFitsVersion) Description(context.Context) string {
	return "jar_uri must be a jar flink_version can run (Flink 1.18: one in the image's /opt/flink/usrlib/)"
}
func (v jarFitsVersion) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v jarFitsVersion) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var version, jar types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, v.flinkVersion, &version)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, v.jarURI, &jar)...)
	if resp.Diagnostics.HasError() || version.IsNull() || version.IsUnknown() || jar.IsNull() || jar.IsUnknown() {
		return
	}
	fv, err := flinkconf.ParseVersion(version.ValueString())
	if err != nil {
		return // flink_version's own validator reports it
	}
	if err := flinkconf.CheckJarURI(fv, jar.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(v.jarURI, "Job jar not possible on Flink "+fv.String(), err.Error())
	}
}

// EnvVarName accepts a name Kubernetes allows for a container environment variable. The
// renderer's own POD_IP (HA JobManagers only) is refused by the application's plan, which
// knows whether HA is on.
func EnvVarName() validator.String {
	return String("environment variable name", CheckEnvVarName)
}

// CheckEnvVarName is EnvVarName's rule.
func CheckEnvVarName(name string) error {
	if errs := validation.IsEnvVarName(name); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid environment variable name: %s; use e.g. JAVA_TOOL_OPTIONS or AWS_REGION",
			name, strings.Join(errs, "; "))
	}
	return nil
}

// ImageReference accepts a container image reference such as flink:1.20.1-java17.
func ImageReference() validator.String {
	return String("container image", CheckImageReference)
}

// CheckImageReference is ImageReference's rule: a named reference (Docker Hub short names
// allowed) with an optional tag and digest. A bare digest names no repository to pull from.
func CheckImageReference(image string) error {
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return fmt.Errorf("%q is not a container image reference (%v); use e.g. flink:1.20.1-java17, "+
			"registry.example.com/team/orders-job:1.4.2 or registry.example.com/team/orders-job@sha256:<64 hex digits>", image, err)
	}
	return nil
}

// savepointSchemes are the file systems Flink (with its bundled or Hadoop file system
// plugins) can write savepoints to.
var savepointSchemes = []string{"s3", "s3a", "s3p", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "hdfs", "viewfs", "file"}

const savepointDirExample = "e.g. s3://bucket/savepoints/orders, gs://bucket/savepoints/orders or file:///mnt/shared/savepoints"

// SavepointDirectory accepts an absolute URI of a directory Flink can write savepoints to.
func SavepointDirectory() validator.String {
	return String("savepoint directory", CheckSavepointDirectory)
}

// CheckSavepointDirectory is SavepointDirectory's rule. A path without a scheme is refused
// because Flink resolves it on the JobManager's local disk, which is lost with the pod.
func CheckSavepointDirectory(dir string) error {
	u, err := url.Parse(dir)
	if err != nil {
		return fmt.Errorf("%q is not a URI: %v; use %s", dir, err, savepointDirExample)
	}
	if u.Scheme == "" {
		return fmt.Errorf("%q has no scheme, so Flink would write savepoints to the pod's local disk, which is lost with "+
			"the pod; use a shared file system, %s", dir, savepointDirExample)
	}
	if !slices.Contains(savepointSchemes, u.Scheme) {
		return fmt.Errorf("scheme %q of %q is not a file system Flink writes savepoints to; use one of %s (%s)",
			u.Scheme, dir, strings.Join(savepointSchemes, ", "), savepointDirExample)
	}
	// url.Parse lowers the scheme, Flink's file system lookup does not.
	if !strings.HasPrefix(dir, u.Scheme+":") {
		return fmt.Errorf("%q: write the scheme in lower case, %s:", dir, u.Scheme)
	}
	if u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URI; write %s:// followed by the location, %s", dir, u.Scheme, savepointDirExample)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(dir, "#") {
		return fmt.Errorf("%q has a query or fragment ('?' or '#'); a savepoint directory is a plain path, %s", dir, savepointDirExample)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("%q names host %q; a local or mounted directory is file:///path (three slashes)", dir, u.Host)
		}
		fallthrough
	case "hdfs", "viewfs":
		if !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("%q names no directory; give an absolute path, e.g. %s:///flink/savepoints", dir, u.Scheme)
		}
	case "abfs", "abfss", "wasb", "wasbs":
		if u.User == nil || u.User.Username() == "" || u.Host == "" {
			return fmt.Errorf("%q names no container and account; use %s://container@account.dfs.core.windows.net/savepoints",
				dir, u.Scheme)
		}
	default:
		if u.Host == "" {
			return fmt.Errorf("%q names no bucket; use %s://bucket/savepoints", dir, u.Scheme)
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%q contains %q; give the directory without relative segments", dir, seg)
		}
	}
	return nil
}

// CheckLabelKey accepts a Kubernetes label key such as team or example.com/team.
func CheckLabelKey(key string) error {
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid label key: %s", key, strings.Join(errs, "; "))
	}
	return nil
}

// CheckLabelValue accepts a Kubernetes label value (at most 63 characters, alphanumerics
// with - _ . inside, or empty).
func CheckLabelValue(value string) error {
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid label value: %s; put free text in annotations instead", value, strings.Join(errs, "; "))
	}
	return nil
}

// CheckAnnotationKey accepts a Kubernetes annotation key such as example.com/owner; the API
// server checks it in lower case, so upper-case prefixes pass.
func CheckAnnotationKey(key string) error {
	if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid annotation key: %s", key, strings.Join(errs, "; "))
	}
	return nil
}

// Duration accepts a Go duration such as "90s", "5m" or "1h30m", greater than zero.
func Duration() validator.String {
	return String("duration", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration; use e.g. \"90s\", \"5m\" or \"1h30m\"", s)
		}
		if d <= 0 {
			return fmt.Errorf("%q must be greater than zero", s)
		}
		return nil
	})
}

// SecretName is the name of a Kubernetes Secret (a DNS-1123 subdomain).
func SecretName() validator.String { return String("Secret name", CheckSecretName) }

// CheckSecretName implements SecretName.
func CheckSecretName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%q is not a Secret name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// SecretKey is a key of a Kubernetes Secret: letters, digits, '-', '_' and '.'.
func SecretKey() validator.String { return String("Secret key", CheckSecretKey) }

// CheckSecretKey implements SecretKey.
func CheckSecretKey(key string) error {
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return fmt.Errorf("%q is not a Secret key: %s", key, strings.Join(errs, "; "))
	}
	return nil
}

// SecretFlinkConfigurationKey is a Flink configuration key kept in a Secret: a Flink key that
// is also a Secret key and not one the provider sets.
func SecretFlinkConfigurationKey() validator.String {
	return String("secret Flink configuration key", kube.CheckSecretConfigKey)
}

// SecretReference is a Secret named as "namespace/name", or "name" in a namespace the caller
// supplies.
func SecretReference() validator.String {
	return String("Secret reference", CheckSecretReference)
}

// CheckSecretReference implements SecretReference.
func CheckSecretReference(ref string) error {
	ns, name, qualified := strings.Cut(ref, "/")
	if !qualified {
		return CheckSecretName(ref)
	}
	if err := CheckDNSLabel(ns, 63); err != nil {
		return fmt.Errorf("%q: the namespace %w", ref, err)
	}
	return CheckSecretName(name)
}
