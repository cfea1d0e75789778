package flinkconf

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/flinkplatform/terraform-provider-flink/internal/spec"
)

// Supported are the Flink minor releases whose standalone application mode and
// configuration keys the provider renders.
var Supported = []string{"1.18", "1.19", "1.20", "2.0", "2.1", "2.2", "2.3"}

// CheckSupported accepts a supported "major.minor" Flink release.
func CheckSupported(s string) error {
	for _, v := range Supported {
		if s == v {
			return nil
		}
	}
	return fmt.Errorf("Flink %q is not supported; use one of %s (major.minor, the image decides the patch release)",
		s, strings.Join(Supported, ", "))
}

// Version is a parsed "major.minor" Flink version.
type Version struct{ Major, Minor int }

// ParseVersion parses "1.20", "2.1" (a patch level, "1.20.1", is accepted and ignored).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("invalid Flink version %q: want major.minor, e.g. \"1.20\" or \"2.1\"", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("invalid Flink version %q: want major.minor, e.g. \"1.20\" or \"2.1\"", s)
		}
		n[i] = v
	}
	if n[0] < 1 {
		return Version{}, fmt.Errorf("invalid Flink version %q: major version must be at least 1", s)
	}
	return Version{Major: n[0], Minor: n[1]}, nil
}

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// ConfigFileName is the configuration file Flink reads: config.yaml from 1.19 on,
// flink-conf.yaml before.
func (v Version) ConfigFileName() string {
	if v.AtLeast(1, 19) {
		return ConfigFileYAML
	}
	return ConfigFileLegacy
}

// RestoreKeys returns the configuration keys for the restore path and for allowing
// non-restored state: execution.savepoint.* on Flink 1.x, execution.state-recovery.* on 2.x.
func (v Version) RestoreKeys() (pathKey, ignoreUnclaimedKey string) {
	if v.Major >= 2 {
		return KeyStateRecoveryPath, KeyStateRecoveryIgnoreState
	}
	return KeySavepointPath, KeySavepointIgnoreState
}

// SavepointDirKeys are the keys Flink v reads its default savepoint directory from, the
// preferred first: state.savepoints.dir up to 1.19; from 1.20 the new key, and the old one as
// its deprecated alias (Flink 2.x still reads it).
func (v Version) SavepointDirKeys() []string {
	return v.directoryKeys(KeySavepointDir, KeySavepointDirLegacy)
}

// CheckpointDirKeys are the keys Flink v reads its checkpoint directory from, as
// SavepointDirKeys.
func (v Version) CheckpointDirKeys() []string {
	return v.directoryKeys(KeyCheckpointDir, KeyCheckpointDirLegacy)
}

func (v Version) directoryKeys(current, legacy string) []string {
	if v.AtLeast(1, 20) {
		return []string{current, legacy}
	}
	return []string{legacy}
}

// checkDirectoryKey refuses a directory key Flink v does not read: Flink ignores it without a
// word, and the job runs without the checkpoints or savepoints its configuration seems to ask
// for.
func (v Version) checkDirectoryKey(k string) error {
	for _, dir := range []struct{ all, read []string }{{SavepointDirKeys, v.SavepointDirKeys()}, {CheckpointDirKeys, v.CheckpointDirKeys()}} {
		if slices.Contains(dir.all, k) && !slices.Contains(dir.read, k) {
			return fmt.Errorf("flink_configuration %q: Flink %s does not read this key, and would silently run without "+
				"the directory it names; use %q", k, v, dir.read[0])
		}
	}
	return nil
}

// SavepointDir is the savepoint directory version v configures ("" for none), read from the
// keys its Flink reads (every key when its Flink version is not valid).
func SavepointDir(v spec.Version) string {
	return directory(v, Version.SavepointDirKeys, SavepointDirKeys)
}

// CheckpointDir is the checkpoint directory version v configures, as SavepointDir.
func CheckpointDir(v spec.Version) string {
	return directory(v, Version.CheckpointDirKeys, CheckpointDirKeys)
}

func directory(v spec.Version, keysOf func(Version) []string, all []string) string {
	keys := all
	if fv, err := ParseVersion(v.FlinkVersion); err == nil {
		keys = keysOf(fv)
	}
	return strings.TrimSuffix(strings.TrimSpace(Lookup(v.FlinkConfiguration, keys...)), "/")
}

// UserLibDir is the directory of the official image whose jars Flink's standalone
// application entrypoint puts on the job's classpath.
const UserLibDir = "/opt/flink/usrlib/"

// JarsArgument reports whether Flink's standalone application entrypoint takes the job jar as
// --jars (and fetches a remote one): from 1.19 on. Flink 1.18's has no --jars; an unknown
// option would end its option parsing and turn everything after it into program arguments.
func (v Version) JarsArgument() bool { return v.AtLeast(1, 19) }

// CheckJarURI refuses a job jar Flink version cannot run: Flink 1.18 runs the job only from the
// jars in the image's usrlib directory (UserLibDir), so the jar must be there. No jar ("")
// means the image's usrlib on every version.
func CheckJarURI(v Version, uri string) error {
	if v.JarsArgument() || uri == "" {
		return nil
	}
	u, err := url.Parse(uri)
	if err == nil && (u.Scheme == "local" || u.Scheme == "file") && strings.HasPrefix(path.Clean(u.Path), UserLibDir) {
		return nil
	}
	return fmt.Errorf("jar_uri %q: Flink %s runs the job only from the jars in the image's %s (its standalone-job has no --jars; "+
		"that came with 1.19); put the jar there and use local://%s<name>.jar, or use flink_version 1.19 or later", uri, v, UserLibDir, UserLibDir)
}
