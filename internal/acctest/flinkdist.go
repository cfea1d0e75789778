package acctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Real Flink for the harness (docs/design.md §7): tools/flink.sh (make tools) fetches Flink
// distributions from PyPI's apache-flink-libraries into <cache>/flink/<version>/ and builds the
// fixture job (test/e2e/fixture-job) into <cache>/fixture/<version>/<pin>/fixture-job.jar.
//
// Environment:
//
//	FLINK_RUNTIME=real     StartStack runs Flink pods as local JVMs (ProcessRuntime) instead of
//	                       the flinktest emulator (FLINK_RUNTIME unset or "emulator").
//	FLINK_VERSION=2.2.1    the fetched Flink version(s) the process runtime runs (space or comma
//	                       separated; "2.2" is the newest fetched 2.2.x; default: every fetched
//	                       version). A pod runs the one with its Flink major.minor (image tag or
//	                       FLINK_VERSION env of the pod).
//	FLINK_TOOLS_CACHE      the tool cache (default ~/.cache/terraform-provider-flink).

// The fixture job's entry classes (test/e2e/fixture-job): the same topology in three versions,
// and a variant without uids in two.
const (
	// FixtureJobClass is v1: generator → keyBy → counter → keyBy → tracker → sink.
	FixtureJobClass = "flinkplatform.fixture.CounterJob"
	// FixtureJobPlusClass adds a stateful "audit" operator; it restores a v1 savepoint as is.
	FixtureJobPlusClass = "flinkplatform.fixture.CounterJobPlus"
	// FixtureJobMinusClass drops "tracker", whose state is in a v1 savepoint: restoring one needs
	// allowNonRestoredState.
	FixtureJobMinusClass = "flinkplatform.fixture.CounterJobMinus"
	// FixtureJobNoUidsClass is v1 without operator uids (Flink derives the operator ids from
	// the graph); FixtureJobNoUidsV2Class drops "tracker" and renames the counter, which changes
	// the derived ids: it cannot restore a NoUids savepoint without allowNonRestoredState.
	FixtureJobNoUidsClass   = "flinkplatform.fixture.CounterJobNoUids"
	FixtureJobNoUidsV2Class = "flinkplatform.fixture.CounterJobNoUidsV2"
	// FixtureJarURI is the jar URI to give a version that runs the fixture job. The process
	// runtime maps every local:///opt/flink/usrlib/ jar to the fixture jar of the pod's Flink.
	FixtureJarURI = "local:///opt/flink/usrlib/fixture-job.jar"
	// FixtureCounterVertex is the name of the job vertex that holds the counter operator (a
	// vertex whose name starts with it: chaining may append " -> …").
	FixtureCounterVertex = "counter"
	// FixtureCounterMetric is the counter operator's gauge of events counted so far (restored
	// with the operator's state), as the subtask-aggregated metric id; FixtureRestoredMetric is
	// the count the operator was restored with (0 when it started empty).
	FixtureCounterMetric  = "counter.eventsCounted"
	FixtureRestoredMetric = "counter.eventsRestored"
)

// ToolsCacheDir is tools/install.sh's cache: $FLINK_TOOLS_CACHE, else
// $HOME/.cache/terraform-provider-flink.
func ToolsCacheDir() string {
	if c := os.Getenv("FLINK_TOOLS_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "terraform-provider-flink")
}

// FlinkDistHome is where tools/flink.sh put Flink version (lib/, opt/, plugins/, bin/, conf/).
func FlinkDistHome(cacheDir, version string) string {
	return filepath.Join(cacheDir, "flink", version)
}

// FetchedFlinkVersions lists the Flink versions fetched into cacheDir, oldest first.
func FetchedFlinkVersions(cacheDir string) []string {
	entries, _ := os.ReadDir(filepath.Join(cacheDir, "flink"))
	var out []string
	for _, e := range entries {
		if e.IsDir() && fileExists(filepath.Join(cacheDir, "flink", e.Name(), "lib", "flink-dist-"+e.Name()+".jar")) {
			out = append(out, e.Name())
		}
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i], out[j]) })
	return out
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i]) // a part that is not a number sorts as 0
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// RealFlinkVersions are the Flink versions a real-Flink stack runs: FLINK_VERSION (space or
// comma separated) when set, else every fetched version. An entry without a patch level
// ("2.3") names the newest fetched release of that minor, so that make need not repeat
// tools/flink.sh's patch levels. It fails when one is not fetched.
func RealFlinkVersions(cacheDir string) ([]string, error) {
	fetched := FetchedFlinkVersions(cacheDir)
	want := strings.FieldsFunc(os.Getenv("FLINK_VERSION"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(want) == 0 {
		if len(fetched) == 0 {
			return nil, fmt.Errorf("acctest: no Flink distribution in %s: run make tools (tools/flink.sh)", filepath.Join(cacheDir, "flink"))
		}
		return fetched, nil
	}
	var out []string
	for _, v := range want {
		release := fetchedRelease(fetched, v)
		if release == "" {
			return nil, fmt.Errorf("acctest: FLINK_VERSION=%s is not fetched into %s (have %q): run make tools, or FLINK_DIST_VERSIONS=<version> tools/flink.sh",
				v, filepath.Join(cacheDir, "flink"), fetched)
		}
		out = append(out, release)
	}
	return out, nil
}

// fetchedRelease is the fetched release v names: v itself, or for a major.minor the newest
// fetched patch release of it ("" when none).
func fetchedRelease(fetched []string, v string) string {
	newest := ""
	for _, f := range fetched { // oldest first
		if f == v || (strings.Count(v, ".") == 1 && strings.HasPrefix(f, v+".")) {
			newest = f
		}
	}
	return newest
}

// fixtureBuildScript is test/e2e/fixture-job/build.sh of the source tree this package was
// compiled from ("" when that tree is not there).
func fixtureBuildScript() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "test", "e2e", "fixture-job", "build.sh")
	if !fileExists(p) {
		return ""
	}
	return p
}

var fixtureMu sync.Mutex

// FixtureJar returns the fixture job's jar for Flink version, building it first with
// test/e2e/fixture-job/build.sh (mvn -q package, once: an up-to-date jar is not rebuilt). The
// script keeps one jar per version and sources and prints its path. progress receives the
// script's progress lines (nil: os.Stderr).
func FixtureJar(cacheDir, version string, progress io.Writer) (string, error) {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if progress == nil {
		progress = os.Stderr
	}
	script := fixtureBuildScript()
	if script == "" {
		jar := filepath.Join(cacheDir, "fixture", version, "fixture-job.jar")
		if fileExists(jar) {
			return jar, nil
		}
		return "", fmt.Errorf("acctest: %s does not exist and test/e2e/fixture-job/build.sh is not found to build it", jar)
	}
	cmd := exec.Command(script, version)
	cmd.Env = append(os.Environ(), "FLINK_TOOLS_CACHE="+cacheDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, io.MultiWriter(progress, &stderr)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("acctest: building the fixture job for Flink %s: %w\n%s", version, err, lastLines(stderr.String(), 30))
	}
	jar := strings.TrimSpace(lastLines(stdout.String(), 1))
	if jar == "" || !fileExists(jar) {
		return "", fmt.Errorf("acctest: %s printed %q, not the path of a jar", script, stdout.String())
	}
	return jar, nil
}

// runtimeFromEnv is the Runtime StartStack uses when Options.Runtime is nil: the emulator, or
// with FLINK_RUNTIME=real a ProcessRuntime.
func runtimeFromEnv() (Runtime, error) {
	switch rt := strings.ToLower(strings.TrimSpace(os.Getenv("FLINK_RUNTIME"))); rt {
	case "", "emulator":
		return NewEmulatorRuntime(nil), nil
	case "real", "process":
		return NewProcessRuntime(ProcessRuntimeOptions{})
	default:
		return nil, fmt.Errorf("acctest: FLINK_RUNTIME=%q: want \"emulator\" (default) or \"real\"", rt)
	}
}

// RealFlink reports whether the stack runs real Flink (a ProcessRuntime, or the real node's
// Flink image).
func (s *Stack) RealFlink() bool {
	_, ok := s.runtime.(*ProcessRuntime)
	return ok || s.node != nil
}

// Node is the real node when the stack runs one (FLINK_RUNTIME=node), else nil.
func (s *Stack) Node() *RealNode { return s.node }

// FixtureCount is what the fixture job's counter operator reports.
type FixtureCount struct {
	Counted  int64 // events counted so far (state-backed: continues after a restore)
	Restored int64 // the count restored from a savepoint/checkpoint (0: started empty)
}

// ReadFixtureCount reads the fixture job's counter through the Flink REST API at restBase
// (e.g. http://app-rest.ns.svc:8081; hc may route it through the harness proxy):
//
//	GET /jobs/<job>                       → the vertex named "counter…"
//	GET /jobs/<job>/vertices/<vertex>/subtasks/metrics?get=counter.eventsCounted,counter.eventsRestored&agg=sum
//
// It fails while Flink has not fetched the metric yet (metrics.fetcher.update-interval; the
// process runtime sets it to 1s unless the configuration says otherwise).
func ReadFixtureCount(ctx context.Context, hc *http.Client, restBase, jobID string) (FixtureCount, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimSuffix(restBase, "/")
	var job struct {
		Vertices []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"vertices"`
	}
	if err := GetJSON(ctx, hc, base+"/jobs/"+url.PathEscape(jobID), &job); err != nil {
		return FixtureCount{}, err
	}
	vid := ""
	for _, v := range job.Vertices {
		if v.Name == FixtureCounterVertex || strings.HasPrefix(v.Name, FixtureCounterVertex+" ") {
			vid = v.ID
		}
	}
	if vid == "" {
		return FixtureCount{}, fmt.Errorf("job %s has no vertex %q (vertices %+v)", jobID, FixtureCounterVertex, job.Vertices)
	}
	var metrics []struct {
		ID  string   `json:"id"`
		Sum *float64 `json:"sum"`
	}
	q := url.Values{"get": {FixtureCounterMetric + "," + FixtureRestoredMetric}, "agg": {"sum"}}
	if err := GetJSON(ctx, hc, base+"/jobs/"+url.PathEscape(jobID)+"/vertices/"+vid+"/subtasks/metrics?"+q.Encode(), &metrics); err != nil {
		return FixtureCount{}, err
	}
	var c FixtureCount
	found := false
	for _, m := range metrics {
		if m.Sum == nil {
			continue
		}
		switch m.ID {
		case FixtureCounterMetric:
			c.Counted, found = int64(*m.Sum), true
		case FixtureRestoredMetric:
			c.Restored = int64(*m.Sum)
		}
	}
	if !found {
		return c, errors.New("the counter metric is not available yet")
	}
	return c, nil
}

// GetJSON decodes the JSON answer of a GET of u with hc (nil: http.DefaultClient), 10 s at
// most; any status but 200 is an error.
func GetJSON(ctx context.Context, hc *http.Client, u string, out any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
