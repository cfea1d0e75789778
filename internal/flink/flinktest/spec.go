// Package flinktest emulates, in process, the REST API of the JobManager of a Flink
// standalone application cluster, for unit and acceptance tests. A Cluster serves one
// JobManager running one job with a fixed id; an Emulator serves many clusters behind one
// http.Handler, chosen by the request's host (or by a Kubernetes service-proxy path).
//
// The emulator mimics Flink 1.18 to 2.x: response shapes, status codes, error bodies
// ({"errors":[...]}, with stack traces where newer Flink puts them) and state transitions
// (INITIALIZING -> CREATED -> RUNNING, vertices SCHEDULED until enough TaskManager slots
// exist, savepoints IN_PROGRESS -> COMPLETED, stop-with-savepoint -> FINISHED, cancel ->
// CANCELLING -> CANCELED). Faults can be injected per cluster through Faults.
//
// Stack traces in emulated error bodies are invented: their frames read "(emulated)".
package flinktest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// JobSpec describes the cluster's job and configuration.
type JobSpec struct {
	// FlinkVersion is the full Flink version, e.g. "1.20.1" or "2.1.0" (default "1.20.1").
	// It selects version-specific response shapes (e.g. Flink 2.x dropped "root-exception").
	FlinkVersion string
	// JobID is the fixed 32-hex-digit job id (default: random).
	JobID      string
	JobName    string // default "flink-job"
	EntryClass string
	// Parallelism of every vertex (default: parallelism.default from Config, else 1).
	Parallelism int
	// Config is the effective Flink configuration, returned by /jobmanager/config and
	// /jobs/:jobid/jobmanager/config. Keys the emulator honours:
	// execution.checkpointing.interval, execution.checkpointing.dir (state.checkpoints.dir),
	// execution.checkpointing.savepoint-dir (state.savepoints.dir), jobmanager.scheduler
	// (adaptive), scheduler-mode (reactive), parallelism.default, pipeline.max-parallelism,
	// pipeline.global-job-parameters, web.cancel.enable.
	Config map[string]string
	// RestorePath is the savepoint or checkpoint the job was started from ("" = empty state).
	RestorePath           string
	AllowNonRestoredState bool
	// SavepointDir is the default target of savepoints whose request names no directory;
	// when empty, the savepoint directory of Config is used.
	SavepointDir string
}

// Timings are the durations of the emulated transitions. Zero fields take the defaults
// of DefaultTimings.
type Timings struct {
	Initializing time.Duration // INITIALIZING -> CREATED (default 10ms)
	Created      time.Duration // CREATED -> RUNNING (default 5ms)
	Deploying    time.Duration // vertices DEPLOYING -> RUNNING (default 10ms)
	Cancelling   time.Duration // CANCELLING -> CANCELED (default 5ms)
	Savepoint    time.Duration // savepoint IN_PROGRESS -> COMPLETED (default 20ms)
	Disposal     time.Duration // savepoint disposal IN_PROGRESS -> COMPLETED (default 5ms)
}

// DefaultTimings are short, to keep tests fast.
func DefaultTimings() Timings {
	return Timings{
		Initializing: 10 * time.Millisecond,
		Created:      5 * time.Millisecond,
		Deploying:    10 * time.Millisecond,
		Cancelling:   5 * time.Millisecond,
		Savepoint:    20 * time.Millisecond,
		Disposal:     5 * time.Millisecond,
	}
}

func (t Timings) withDefaults() Timings {
	d := DefaultTimings()
	if t.Initializing <= 0 {
		t.Initializing = d.Initializing
	}
	if t.Created <= 0 {
		t.Created = d.Created
	}
	if t.Deploying <= 0 {
		t.Deploying = d.Deploying
	}
	if t.Cancelling <= 0 {
		t.Cancelling = d.Cancelling
	}
	if t.Savepoint <= 0 {
		t.Savepoint = d.Savepoint
	}
	if t.Disposal <= 0 {
		t.Disposal = d.Disposal
	}
	return t
}

// Job states and execution states, as Flink spells them.
const (
	stateInitializing = "INITIALIZING"
	stateCreated      = "CREATED"
	stateRunning      = "RUNNING"
	stateFailing      = "FAILING"
	stateFailed       = "FAILED"
	stateCancelling   = "CANCELLING"
	stateCanceled     = "CANCELED"
	stateFinished     = "FINISHED"
	stateRestarting   = "RESTARTING"
	stateSuspended    = "SUSPENDED"
	stateReconciling  = "RECONCILING"

	execCreated      = "CREATED"
	execScheduled    = "SCHEDULED"
	execDeploying    = "DEPLOYING"
	execRunning      = "RUNNING"
	execFinished     = "FINISHED"
	execCanceling    = "CANCELING"
	execCanceled     = "CANCELED"
	execFailed       = "FAILED"
	execReconciling  = "RECONCILING"
	execInitializing = "INITIALIZING"
)

var jobStates = []string{
	stateInitializing, stateCreated, stateRunning, stateFailing, stateFailed, stateCancelling,
	stateCanceled, stateFinished, stateRestarting, stateSuspended, stateReconciling,
}

var execStates = []string{
	execCreated, execScheduled, execDeploying, execRunning, execFinished, execCanceling,
	execCanceled, execFailed, execReconciling, execInitializing,
}

func isGloballyTerminal(state string) bool {
	return state == stateFinished || state == stateCanceled || state == stateFailed
}

// flinkVersion is a parsed "major.minor.patch".
type flinkVersion struct {
	full         string
	major, minor int
}

func parseVersion(v string) flinkVersion {
	if v == "" {
		v = "1.20.1"
	}
	fv := flinkVersion{full: v}
	parts := strings.SplitN(v, ".", 3)
	fv.major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		fv.minor, _ = strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return !unicode.IsDigit(r) }))
	}
	return fv
}

func (v flinkVersion) atLeast(major, minor int) bool {
	return v.major > major || (v.major == major && v.minor >= minor)
}

// commit is a stable fake short commit hash for the version.
func (v flinkVersion) commit() string {
	sum := sha256.Sum256([]byte("flink-" + v.full))
	return hex.EncodeToString(sum[:])[:7]
}

// isJobID reports whether s is 32 hex digits, as Flink's JobID/TriggerId parsers require.
func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rand.IntN(16)]
	}
	return string(b)
}

// vertexID derives a stable vertex id from the vertex name, like a Flink operator with a
// fixed uid: the same across clusters, jobs and restarts.
func vertexID(name string) string {
	sum := sha256.Sum256([]byte("flinktest-vertex/" + name))
	return hex.EncodeToString(sum[:16])
}

// defaultMaxParallelism is Flink's default for operators without an explicit max
// parallelism: 1.5 * parallelism rounded up to a power of two, within [128, 32768].
func defaultMaxParallelism(p int) int {
	n := p + p/2
	pow := 1
	for pow < n {
		pow <<= 1
	}
	return min(max(pow, 128), 32768)
}

// parseFlinkDuration parses Flink duration option values: "10s", "1 min", "500 ms",
// "3600000" (milliseconds), "2h", "1d".
func parseFlinkDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("duration %q does not start with a number", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	unit := strings.TrimSpace(s[i:])
	var mult time.Duration
	switch unit {
	case "", "ms", "milli", "millis", "millisecond", "milliseconds":
		mult = time.Millisecond
	case "ns", "nano", "nanos", "nanosecond", "nanoseconds":
		mult = time.Nanosecond
	case "us", "µs", "micro", "micros", "microsecond", "microseconds":
		mult = time.Microsecond
	case "s", "sec", "secs", "second", "seconds":
		mult = time.Second
	case "m", "min", "mins", "minute", "minutes":
		mult = time.Minute
	case "h", "hour", "hours":
		mult = time.Hour
	case "d", "day", "days":
		mult = 24 * time.Hour
	default:
		return 0, fmt.Errorf("duration %q has an unknown unit %q", s, unit)
	}
	return time.Duration(n) * mult, nil
}

// joinStoragePath appends name to a storage directory the way Flink reports paths
// (org.apache.flink.core.fs.Path#toString): local absolute paths get the "file:" scheme, and
// a URI without an authority loses its empty "//" ("file:///tmp/sp" is "file:/tmp/sp"), while
// one with an authority keeps it ("s3://bucket/sp").
func joinStoragePath(dir, name string) string {
	dir = strings.TrimRight(dir, "/")
	if strings.HasPrefix(dir, "/") {
		dir = "file:" + dir
	} else if scheme, rest, ok := strings.Cut(dir, ":///"); ok && scheme != "" && !strings.ContainsAny(scheme, "/?#") {
		dir = scheme + ":/" + strings.TrimLeft(rest, "/")
	}
	return dir + "/" + name
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func configValue(cfg map[string]string, keys ...string) string {
	for _, k := range keys {
		if v, ok := cfg[k]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
