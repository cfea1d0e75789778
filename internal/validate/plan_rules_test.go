package validate

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/flinkplatform/terraform-provider-flink/internal/flinkconf"
	"github.com/flinkplatform/terraform-provider-flink/internal/kube"
	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// checkCases runs a rule over values; wantErr "" means the value must pass.
func checkCases[T comparable](t *testing.T, check func(T) error, cases map[T]string) {
	t.Helper()
	for value, wantErr := range cases {
		err := check(value)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%v: unexpected error %v", value, err)
		case wantErr != "" && err == nil:
			t.Errorf("%v: accepted, want an error containing %q", value, wantErr)
		case wantErr != "" && !strings.Contains(err.Error(), wantErr):
			t.Errorf("%v: error %q, want one containing %q", value, err, wantErr)
		}
	}
}

func TestFlinkConfigurationKey_refusesWhatTheRendererRefuses(t *testing.T) {
	check := FlinkConfigurationKey().(stringCheck).check
	fv, _ := flinkconf.ParseVersion("1.20")
	for key, valid := range map[string]bool{
		"state.backend.type":                  true,
		"s3.access-key":                       true,
		"metrics.reporter.prom.factory.class": true,
		"$internal.pipeline.job-id":           true,
		"fs.s3a.assumed.role/arn+x@y":         true,
		"_x":                                  true,
		"s3.access key":                       false,
		"":                                    false,
		".leading-dot":                        false,
		"key:with-colon":                      false,
		"tab\tkey":                            false,
		"#comment":                            false,
		"schlüssel":                           false,
		"containerized.master.env.JAVA_HOME":  true,
		"env.java.opts.all":                   true,
		"pipeline.global-job-parameters.a\nb: evil": false,
	} {
		planErr := check(key)
		_, renderErr := flinkconf.RenderFile(fv, map[string]string{key: "v"})
		if (planErr == nil) != valid {
			t.Errorf("key %q: plan-time error %v, want valid=%v", key, planErr, valid)
		}
		if (planErr == nil) != (renderErr == nil) {
			t.Errorf("key %q: plan-time error %v but renderer error %v; they must agree", key, planErr, renderErr)
		}
	}
}

// versionConfig builds the Terraform configuration of a resource with only flink_version
// and flink_configuration, as the framework hands it to a config validator.
func versionConfig(t *testing.T, flinkVersion tftypes.Value, cfg map[string]tftypes.Value) tfsdk.Config {
	t.Helper()
	sch := schema.Schema{Attributes: map[string]schema.Attribute{
		"flink_version":       schema.StringAttribute{Optional: true},
		"flink_configuration": schema.MapAttribute{Optional: true, ElementType: types.StringType},
	}}
	mapType := tftypes.Map{ElementType: tftypes.String}
	cfgValue := tftypes.NewValue(mapType, nil)
	if cfg != nil {
		cfgValue = tftypes.NewValue(mapType, cfg)
	}
	raw := tftypes.NewValue(sch.Type().TerraformType(context.Background()), map[string]tftypes.Value{
		"flink_version": flinkVersion, "flink_configuration": cfgValue,
	})
	return tfsdk.Config{Schema: sch, Raw: raw}
}

func TestFlinkConfigurationFitsVersion(t *testing.T) {
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	unknown := tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	cases := []struct {
		name         string
		flinkVersion tftypes.Value
		cfg          map[string]tftypes.Value
		wantKey      string // key the error must point at; "" = no error
		wantErr      string
	}{
		{"hash on 1.18 is refused", str("1.18"), map[string]tftypes.Value{"a.b": str("x"), "metrics.x": str("p#q")}, "metrics.x", "'#'"},
		{"newline on 1.18 is refused", str("1.18"), map[string]tftypes.Value{"a.b": str("x\ny")}, "a.b", "line break"},
		{"carriage return on 1.18 is refused", str("1.18"), map[string]tftypes.Value{"a.b": str("x\ry")}, "a.b", "line break"},
		{"hash and newline on 1.19 are fine", str("1.19"), map[string]tftypes.Value{"a.b": str("p#q\nr")}, "", ""},
		{"hash on 2.1 is fine", str("2.1"), map[string]tftypes.Value{"a.b": str("p#q")}, "", ""},
		{"plain value on 1.18 is fine", str("1.18"), map[string]tftypes.Value{"a.b": str("s3://bucket/x")}, "", ""},
		{"unknown version waits for apply-time values", unknown, map[string]tftypes.Value{"a.b": str("p#q")}, "", ""},
		{"unknown value is skipped", str("1.18"), map[string]tftypes.Value{"a.b": unknown}, "", ""},
		{"invalid version is left to its own validator", str("latest"), map[string]tftypes.Value{"a.b": str("p#q")}, "", ""},
		{"no configuration", str("1.18"), nil, "", ""},
	}
	v := FlinkConfigurationFitsVersion(path.Root("flink_version"), path.Root("flink_configuration"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp resource.ValidateConfigResponse
			v.ValidateResource(context.Background(), resource.ValidateConfigRequest{Config: versionConfig(t, tc.flinkVersion, tc.cfg)}, &resp)
			errs := resp.Diagnostics.Errors()
			if tc.wantKey == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors (%v), want 1", len(errs), errs)
			}
			withPath, ok := errs[0].(interface{ Path() path.Path })
			if !ok || !withPath.Path().Equal(path.Root("flink_configuration").AtMapKey(tc.wantKey)) {
				t.Errorf("error is not attached to flink_configuration[%q]: %v", tc.wantKey, errs[0])
			}
			if !strings.Contains(errs[0].Detail(), tc.wantErr) || !strings.Contains(errs[0].Detail(), "flink_version 1.19 or later") {
				t.Errorf("detail %q should name the problem (%q) and the way out", errs[0].Detail(), tc.wantErr)
			}
		})
	}
}

// The value rule is the renderer's: whatever the config validator lets through for 1.18,
// RenderConfigFile writes, and whatever it refuses, RenderConfigFile refuses too.
func TestFlinkConfigurationFitsVersion_agreesWithRenderer(t *testing.T) {
	for _, version := range []string{"1.18", "1.20", "2.2"} {
		fv, err := flinkconf.ParseVersion(version)
		if err != nil {
			t.Fatal(err)
		}
		for _, value := range []string{"plain", "with # hash", "two\nlines", "cr\r", "'quoted'", " spaced ", ""} {
			var resp resource.ValidateConfigResponse
			cfg := versionConfig(t, tftypes.NewValue(tftypes.String, version),
				map[string]tftypes.Value{"a.b": tftypes.NewValue(tftypes.String, value)})
			FlinkConfigurationFitsVersion(path.Root("flink_version"), path.Root("flink_configuration")).
				ValidateResource(context.Background(), resource.ValidateConfigRequest{Config: cfg}, &resp)
			_, renderErr := flinkconf.RenderFile(fv, map[string]string{"a.b": value})
			if resp.Diagnostics.HasError() != (renderErr != nil) {
				t.Errorf("Flink %s, value %q: plan-time errors %v, renderer error %v; they must agree",
					version, value, resp.Diagnostics.Errors(), renderErr)
			}
		}
	}
}

// Flink 1.18 runs the job only from the image's usrlib: jar_uri is refused elsewhere, as the
// renderer refuses it (flinkconf.CheckJarURI is both rules).
func TestJarURIFitsVersion(t *testing.T) {
	sch := schema.Schema{Attributes: map[string]schema.Attribute{
		"flink_version": schema.StringAttribute{Optional: true},
		"jar_uri":       schema.StringAttribute{Optional: true},
	}}
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	unknown := tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	cases := []struct {
		name         string
		flinkVersion tftypes.Value
		jar          tftypes.Value
		wantErr      bool
	}{
		{"1.18 jar in usrlib", str("1.18"), str("local:///opt/flink/usrlib/job.jar"), false},
		{"1.18 remote jar", str("1.18"), str("s3://bucket/job.jar"), true},
		{"1.18 jar elsewhere in the image", str("1.18"), str("local:///opt/flink/lib/job.jar"), true},
		{"1.19 remote jar", str("1.19"), str("s3://bucket/job.jar"), false},
		{"2.3 remote jar", str("2.3"), str("https://repo.example.com/job.jar"), false},
		{"unknown version", unknown, str("s3://bucket/job.jar"), false},
		{"unknown jar", str("1.18"), unknown, false},
	}
	v := JarURIFitsVersion(path.Root("flink_version"), path.Root("jar_uri"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tftypes.NewValue(sch.Type().TerraformType(context.Background()), map[string]tftypes.Value{
				"flink_version": tc.flinkVersion, "jar_uri": tc.jar,
			})
			var resp resource.ValidateConfigResponse
			v.ValidateResource(context.Background(), resource.ValidateConfigRequest{Config: tfsdk.Config{Schema: sch, Raw: raw}}, &resp)
			errs := resp.Diagnostics.Errors()
			if !tc.wantErr {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Detail(), "/opt/flink/usrlib/") || !strings.Contains(errs[0].Detail(), "1.19 or later") {
				t.Fatalf("errors %v, want one naming /opt/flink/usrlib/ and the way out", errs)
			}
			if withPath, ok := errs[0].(interface{ Path() path.Path }); !ok || !withPath.Path().Equal(path.Root("jar_uri")) {
				t.Errorf("error is not attached to jar_uri: %v", errs[0])
			}
		})
	}
}

func TestCheckEnvVarName(t *testing.T) {
	checkCases(t, CheckEnvVarName, map[string]string{
		"JAVA_TOOL_OPTIONS": "",
		"AWS_REGION":        "",
		"my.setting":        "",
		"_private":          "",
		"1PASSWORD":         "not a valid environment variable name",
		"MY VAR":            "not a valid environment variable name",
		"A=B":               "not a valid environment variable name",
		"":                  "not a valid environment variable name",
	})
}

func TestCheckImageReference(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	checkCases(t, CheckImageReference, map[string]string{
		"flink":               "",
		"flink:1.20.1-java17": "",
		"registry.example.com:5000/team/job:1.4.2": "",
		"ghcr.io/org/job@" + digest:                "",
		"ghcr.io/org/job:1.0@" + digest:            "",
		"":                                         "not a container image reference",
		"Flink:1.20":                               "must be lowercase",
		"flink:1.20 ":                              "not a container image reference",
		"flink::1.20":                              "not a container image reference",
		"https://ghcr.io/org/job:1":                "not a container image reference",
		"ghcr.io/org/job@sha256:abc":               "not a container image reference",
	})
	if err := CheckImageReference("flink 1.20"); err == nil || !strings.Contains(err.Error(), "e.g. flink:1.20.1-java17") {
		t.Errorf("error %v should show an example reference", err)
	}
}

func TestCheckSavepointDirectory(t *testing.T) {
	checkCases(t, CheckSavepointDirectory, map[string]string{
		"s3://bucket/savepoints/orders": "",
		"s3://bucket":                   "",
		"s3a://bucket/sp":               "",
		"s3p://bucket/sp/":              "",
		"gs://bucket/sp":                "",
		"oss://bucket/sp":               "",
		"abfss://container@account.dfs.core.windows.net/sp":  "",
		"wasbs://container@account.blob.core.windows.net/sp": "",
		"hdfs:///flink/savepoints":                           "",
		"hdfs://namenode:8020/flink/savepoints":              "",
		"viewfs://cluster/flink/savepoints":                  "",
		"file:///mnt/shared/savepoints":                      "",
		"file:/mnt/shared/savepoints":                        "", // Flink's own spelling
		"file://localhost/mnt/shared/savepoints":             "",
		"/tmp/sp":                                            "pod's local disk",
		"savepoints/orders":                                  "has no scheme",
		"":                                                   "has no scheme",
		"ftp://host/sp":                                      `scheme "ftp"`,
		"mem://sp":                                           `scheme "mem"`,
		"S3://bucket/sp":                                     "in lower case",
		"s3:bucket/sp":                                       "not an absolute URI",
		"file:tmp/sp":                                        "not an absolute URI",
		"s3:///sp":                                           "names no bucket",
		"gs:///sp":                                           "names no bucket",
		"file://tmp/sp":                                      `names host "tmp"`,
		"file://./sp":                                        `names host "."`,
		"hdfs://namenode":                                    "names no directory",
		"file://":                                            "names no directory",
		"abfss://account.dfs.core.windows.net/sp":            "names no container",
		"s3://bucket/sp#1":                                   "query or fragment",
		"s3://bucket/sp#":                                    "query or fragment",
		"s3://bucket/sp?versionId=1":                         "query or fragment",
		"s3://bucket/a/../sp":                                `contains ".."`,
		"s3://bucket/sp\nx":                                  "not a URI",
	})
}

func TestCheckCPU_isTheRenderersRule(t *testing.T) {
	checkCases(t, CheckCPU, map[float64]string{
		0.5:         "",
		2:           "",
		0.001:       "",
		0:           "greater than 0",
		-1:          "greater than 0",
		0.0001:      "at least 0.001",
		1e16:        "too large",
		math.Inf(1): "finite",
	})
	for _, cores := range []float64{0.5, 0.0004, 0.0006, 0, 1e15, 1e16} {
		_, renderErr := kube.CPUQuantity(cores)
		if (CheckCPU(cores) == nil) != (renderErr == nil) {
			t.Errorf("cpu %v: plan-time %v, renderer %v; they must agree", cores, CheckCPU(cores), renderErr)
		}
	}
}

func TestCheckLabelValue(t *testing.T) {
	checkCases(t, CheckLabelValue, map[string]string{
		"payments":              "",
		"team-a.v2_x":           "",
		"":                      "",
		"payments team":         "not a valid label value",
		"-leading":              "not a valid label value",
		strings.Repeat("a", 64): "not a valid label value",
	})
}

func TestCheckAnnotationKey(t *testing.T) {
	checkCases(t, CheckAnnotationKey, map[string]string{
		"owner":             "",
		"example.com/owner": "",
		"Example.com/Owner": "",
		"owner name":        "not a valid annotation key",
		"example.com/":      "not a valid annotation key",
		"a/b/c":             "not a valid annotation key",
	})
}

// Each renderer refusal of version input has a plan-time rule refusing the same value. The
// deployment is valid except for the one field the case breaks.
func TestPlanTimeRulesRefuseWhatRenderRefuses(t *testing.T) {
	valid := func() spec.Deployment {
		return spec.Deployment{
			Namespace: "streams", Application: "orders", JobID: strings.Repeat("0", 31) + "a",
			Version: spec.Version{
				Namespace: "streams", Application: "orders", Label: "v1",
				Image: "flink:1.20.1", JarURI: "local:///opt/flink/usrlib/orders.jar", EntryClass: "com.example.Orders",
				FlinkVersion: "1.18", Parallelism: 1, FlinkConfiguration: map[string]string{"a.b": "c"},
				JobManager:  spec.JobManager{CPU: 1, Memory: "1600m", Replicas: 1},
				TaskManager: spec.TaskManager{CPU: 1, Memory: "1728m", Replicas: 1, TaskSlots: 1},
			},
		}
	}
	str := func(v validator.String) func(string) error { return v.(stringCheck).check }
	cases := []struct {
		name  string
		spoil func(*spec.Deployment, string)
		value string
		rule  func(string) error
	}{
		{"config key", func(d *spec.Deployment, s string) { d.Version.FlinkConfiguration[s] = "x" }, "s3.access key", str(FlinkConfigurationKey())},
		{"owned key", func(d *spec.Deployment, s string) { d.Version.FlinkConfiguration[s] = "x" }, "rest.port", func(s string) error {
			if r := OwnedConfigKey(s); r != "" {
				return errString(r)
			}
			return nil
		}},
		{"legacy value #", func(d *spec.Deployment, s string) { d.Version.FlinkConfiguration["a.b"] = s }, "p#q", legacyValue},
		{"legacy value newline", func(d *spec.Deployment, s string) { d.Version.FlinkConfiguration["a.b"] = s }, "p\nq", legacyValue},
		{"image", func(d *spec.Deployment, s string) { d.Version.Image = s }, "", CheckImageReference},
		{"flink version", func(d *spec.Deployment, s string) { d.Version.FlinkVersion = s }, "latest", str(FlinkVersion())},
		{"job manager memory", func(d *spec.Deployment, s string) { d.Version.JobManager.Memory = s }, "2Gi", str(MemorySize())},
		{"task manager memory", func(d *spec.Deployment, s string) { d.Version.TaskManager.Memory = s }, "1.5g", str(MemorySize())},
		{"namespace", func(d *spec.Deployment, s string) { d.Namespace, d.Version.Namespace = s, s }, "Streams", str(DNSLabel(63))},
		{"application", func(d *spec.Deployment, s string) { d.Application, d.Version.Application = s, s }, "1orders", str(ApplicationName())},
		{"version label", func(d *spec.Deployment, s string) { d.Version.Label = s }, "V1", str(DNSLabel(63))},
	}
	if _, err := kube.Render(valid(), nil); err != nil {
		t.Fatalf("the valid deployment does not render: %v", err)
	}
	for _, tc := range cases {
		d := valid()
		tc.spoil(&d, tc.value)
		if _, err := kube.Render(d, nil); err == nil {
			t.Errorf("%s: Render accepts %q; the case no longer tests a renderer refusal", tc.name, tc.value)
		}
		if tc.rule(tc.value) == nil {
			t.Errorf("%s: Render refuses %q but the plan-time rule accepts it", tc.name, tc.value)
		}
	}
	for _, cores := range []float64{0, 1e16} {
		d := valid()
		d.Version.TaskManager.CPU = cores
		if _, err := kube.Render(d, nil); err == nil || CheckCPU(cores) == nil {
			t.Errorf("cpu %v: Render error %v, plan-time error %v; both must refuse", cores, err, CheckCPU(cores))
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func legacyValue(s string) error {
	fv, _ := flinkconf.ParseVersion("1.18")
	return flinkconf.CheckValue(fv, "a.b", s)
}
