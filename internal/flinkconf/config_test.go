package flinkconf

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

func TestOwnedConfigKeys(t *testing.T) {
	for _, k := range []string{"jobmanager.rpc.address", "rest.port", "rest.address", "rest.bind-port", "jobmanager.rpc.port",
		"blob.server.port", "taskmanager.numberOfTaskSlots", "parallelism.default", "jobmanager.memory.process.size",
		"taskmanager.memory.process.size", "execution.savepoint.path", "execution.state-recovery.path",
		"execution.savepoint.ignore-unclaimed-state", "execution.state-recovery.ignore-unclaimed-state",
		"kubernetes.cluster-id", "high-availability", "high-availability.type", "high-availability.storageDir",
		"execution.shutdown-on-application-finish"} {
		if !IsOwnedKey(k) {
			t.Errorf("%s should be owned", k)
		}
	}
	for _, k := range []string{"state.checkpoints.dir", "rest.flamegraph.enabled", "taskmanager.memory.managed.fraction", "execution.checkpointing.interval"} {
		if IsOwnedKey(k) {
			t.Errorf("%s should not be owned", k)
		}
	}
}

func TestYAMLScalarRoundTrip(t *testing.T) {
	values := []string{
		"plain", "10s", "1024m", "s3://bucket/path", "-Dfoo=bar -XX:+UseG1GC", "host1:9092,host2:9092",
		"2", "8081", "-3", "true", "false",
		"", " leading", "trailing ", "1.10", "1.0", "0x1F", "017", "1e3", "12:30", "2024-01-02",
		"yes", "no", "on", "off", "null", "~", "True", "FALSE", ".inf", "-.nan",
		"a: b", "a #b", "#x", "x#y", "[a, b]", "{k: v}", "*alias", "&anchor", "!tag", "|", ">", "'q'", "\"dq\"",
		"%x", "@x", "`x`", "back\\slash", "line1\nline2", "tab\there", "ünïcödé", "a:", "- item", "?", "-",
		"<html>&amp;", "\u2028", "\x01",
	}
	for _, v := range values {
		text := "k: " + yamlScalar(v) + "\n"
		var m map[string]any
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			t.Errorf("%q -> %q: invalid YAML: %v", v, text, err)
			continue
		}
		got := m["k"]
		switch x := got.(type) {
		case string:
			if x != v {
				t.Errorf("%q -> %q decodes to %q", v, text, x)
			}
		case int:
			if mustJSON(t, x) != v {
				t.Errorf("%q -> %q decodes to int %d", v, text, x)
			}
		case bool:
			if mustJSON(t, x) != v {
				t.Errorf("%q -> %q decodes to bool %v", v, text, x)
			}
		default:
			t.Errorf("%q -> %q decodes to %T %v", v, text, got, got)
		}
	}
}

func TestParseFlinkVersion(t *testing.T) {
	for in, want := range map[string]Version{"1.20": {1, 20}, "2.1": {2, 1}, "1.18.1": {1, 18}, " 1.19 ": {1, 19}} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1", "v1.20", "1.x", "0.9", "1.20.1.1", "1.020"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q): expected an error", in)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A directory key the version's Flink does not read is refused: Flink would ignore it without
// a word and run without the directory. (Once a bug: a 1.18 version could name
// execution.checkpointing.dir, and last_state was allowed though no checkpoint was kept.)
func TestCheckValueRefusesDirectoryKeysTheVersionDoesNotRead(t *testing.T) {
	for _, tc := range []struct {
		version, key string
		want         string // "" = accepted
	}{
		{"1.18", KeyCheckpointDir, `use "state.checkpoints.dir"`},
		{"1.19", KeySavepointDir, `use "state.savepoints.dir"`},
		{"1.18", KeyCheckpointDirLegacy, ""},
		{"1.20", KeyCheckpointDir, ""},
		{"1.20", KeySavepointDirLegacy, ""},
		{"2.3", KeyCheckpointDirLegacy, ""}, // a deprecated alias Flink 2 still reads
		{"2.3", KeySavepointDir, ""},
	} {
		fv, err := ParseVersion(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckValue(fv, tc.key, "s3://bucket/dir")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Flink %s, %s: %v, want accepted", tc.version, tc.key, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Flink %s, %s: %v, want an error saying %s", tc.version, tc.key, err, tc.want)
		}
	}
}

// The lifecycle reads a version's directories from the keys its Flink reads.
func TestDirectoriesFromTheKeysTheVersionReads(t *testing.T) {
	v := spec.Version{FlinkVersion: "1.18", FlinkConfiguration: map[string]string{KeyCheckpointDir: "s3://new/", KeySavepointDirLegacy: "s3://sp/"}}
	if got := CheckpointDir(v); got != "" {
		t.Errorf("Flink 1.18 checkpoint directory %q, want none: it does not read %s", got, KeyCheckpointDir)
	}
	if got := SavepointDir(v); got != "s3://sp" {
		t.Errorf("Flink 1.18 savepoint directory %q, want s3://sp", got)
	}
	v.FlinkVersion = "2.2"
	if got := CheckpointDir(v); got != "s3://new" {
		t.Errorf("Flink 2.2 checkpoint directory %q, want s3://new", got)
	}
}
