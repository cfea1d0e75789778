// Package validate holds the attribute validators that turn bad input into a plan-time error
// naming the attribute and the reason, instead of a failure halfway through an apply.
package validate

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"k8s.io/apimachinery/pkg/util/validation"

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

// ApplicationName accepts a name every object derived from it can carry (Services need a
// DNS-1035 label, so it starts with a letter and leaves room for "-jobmanager").
func ApplicationName() validator.String {
	return String("application name", kube.ValidateApplicationName)
}

// MemorySize accepts a Flink memory size such as "1024m", "2g" or "1536mb".
func MemorySize() validator.String {
	return String("memory size", func(s string) error {
		_, err := kube.ParseMemory(s)
		return err
	})
}

// supportedFlinkVersions are the Flink minor releases whose standalone application mode and
// configuration keys the provider renders.
var supportedFlinkVersions = []string{"1.18", "1.19", "1.20", "2.0", "2.1", "2.2"}

// FlinkVersion accepts a supported "major.minor" Flink release.
func FlinkVersion() validator.String {
	return String("Flink version", func(s string) error {
		for _, v := range supportedFlinkVersions {
			if s == v {
				return nil
			}
		}
		return fmt.Errorf("Flink %q is not supported; use one of %s (major.minor, the image decides the patch release)",
			s, strings.Join(supportedFlinkVersions, ", "))
	})
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
	if !kube.IsOwnedConfigKey(k) {
		return ""
	}
	return fmt.Sprintf("%q is set by the provider: %s", key, ownedKeyHint(k))
}

func ownedKeyHint(key string) string {
	switch {
	case strings.Contains(key, "savepoint") || strings.Contains(key, "state-recovery"):
		return "the restore path comes from the application's restore settings and the snapshot trail."
	case strings.HasPrefix(key, "high-availability"):
		return "Kubernetes HA is configured by the provider for each application."
	case strings.HasSuffix(key, "memory.process.size"):
		return "use job_manager.memory / task_manager.memory."
	case key == "taskmanager.numberOfTaskSlots":
		return "use task_manager.task_slots."
	case key == "parallelism.default":
		return "use parallelism."
	case key == kube.KeyShutdownOnFinish:
		return "the JobManager must stay up after its job ends so the provider can see how it ended."
	default:
		return "addresses and ports are fixed so the provider's Services can reach the cluster."
	}
}

// CheckLabelKey accepts a Kubernetes label key such as team or example.com/team.
func CheckLabelKey(key string) error {
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid label key: %s", key, strings.Join(errs, "; "))
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
