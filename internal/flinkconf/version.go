package flinkconf

import (
	"fmt"
	"strconv"
	"strings"
)

// Supported are the Flink minor releases whose standalone application mode and
// configuration keys the provider renders.
var Supported = []string{"1.18", "1.19", "1.20", "2.0", "2.1", "2.2"}

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
