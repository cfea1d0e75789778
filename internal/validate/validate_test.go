package validate

import (
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	jar := JarURI().(stringCheck).check
	class := JavaClassName().(stringCheck).check
	flinkVersion := FlinkVersion().(stringCheck).check
	template := URLTemplate().(stringCheck).check
	blob := BlobURL().(stringCheck).check
	secretRef := SecretReference().(stringCheck).check
	cases := []struct {
		name    string
		check   func(string) error
		value   string
		wantErr string // "" = valid
	}{
		{"local jar", jar, "local:///opt/flink/usrlib/job.jar", ""},
		{"s3 jar", jar, "s3://bucket/jobs/job.jar", ""},
		{"jar without scheme", jar, "/opt/flink/job.jar", "is not a URI"},
		{"jar directory", jar, "s3://bucket/jobs/", "names a directory"},
		{"ftp jar", jar, "ftp://host/job.jar", `scheme "ftp"`},
		{"class", class, "com.example.FraudJob", ""},
		{"inner-ish class with $", class, "com.example.Outer$Inner", ""},
		{"class with space", class, "com.example.Fraud Job", "not a Java class name"},
		{"class starting with digit", class, "com.1example.Job", "not a Java class name"},
		{"flink 1.20", flinkVersion, "1.20", ""},
		{"flink 2.1", flinkVersion, "2.1", ""},
		{"flink 1.18, the oldest", flinkVersion, "1.18", ""},
		{"flink 2.3, the newest", flinkVersion, "2.3", ""},
		{"flink too new", flinkVersion, "2.4", "not supported"},
		{"flink patch", flinkVersion, "1.20.1", "not supported"},
		{"flink too old", flinkVersion, "1.17", "not supported"},
		{"template", template, "http://{name}-rest.{namespace}.svc:8081", ""},
		{"template without name", template, "http://flink.example.com", "must contain {name}"},
		{"template not http", template, "ftp://{name}", "not an http"},
		{"secret by name", secretRef, "flink-s3", ""},
		{"secret in a namespace", secretRef, "platform/flink-s3", ""},
		{"secret with a dotted name", secretRef, "platform/flink.s3", ""},
		{"secret in a bad namespace", secretRef, "Platform/flink-s3", "the namespace"},
		{"secret with a bad name", secretRef, "platform/Flink_S3", "is not a Secret name"},
		{"secret with two slashes", secretRef, "a/b/c", "is not a Secret name"},
		{"s3 bucket", blob, "s3://savepoints/prod", ""},
		{"file bucket", blob, "file:///var/savepoints", ""},
		{"mem bucket", blob, "mem://", ""},
		{"unknown scheme", blob, "hdfs://nn/savepoints", `scheme "hdfs" is not supported`},
		{"no scheme", blob, "savepoints", "has no scheme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.value)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%q: unexpected error %v", tc.value, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%q: error %v, want one containing %q", tc.value, err, tc.wantErr)
			}
		})
	}
}

func TestOwnedConfigKey(t *testing.T) {
	for key, want := range map[string]string{
		"rest.port":                     "addresses and ports",
		"execution.savepoint.path":      "restore path",
		"execution.state-recovery.path": "restore path",
		"high-availability.storageDir":  "use high_availability on the flink_streaming_application",
		"kubernetes.cluster-id":         "use high_availability on the flink_streaming_application",
		"kubernetes.namespace":          "use high_availability on the flink_streaming_application",
		"high-availability.kubernetes.leader-election.lease-duration": "",
		"taskmanager.memory.process.size":                             "task_manager.memory",
		"taskmanager.numberOfTaskSlots":                               "task_slots",
		"execution.shutdown-on-application-finish":                    "stay up",
		"state.backend.type":                                          "",
	} {
		got := OwnedConfigKey(key)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("OwnedConfigKey(%q) = %q, want mention of %q", key, got, want)
		}
	}
}

// The HA keys point at the attribute that turns HA on or off.
func TestOwnedConfigKey_haKeysPointAtHighAvailability(t *testing.T) {
	for _, key := range []string{"high-availability", "high-availability.type", "high-availability.storageDir"} {
		got := OwnedConfigKey(key)
		if !strings.Contains(got, "is set by the provider") || !strings.Contains(got, "use high_availability") {
			t.Errorf("OwnedConfigKey(%q) = %q: does not say the provider sets it and what to use instead", key, got)
		}
	}
}
