package metadata

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// The real fixtures: _metadata files that real Flink wrote, made by tools/metadata-fixtures.sh
// (make tools) for every fetched Flink version into
// <cache>/metadata/<version>/<pin>/<variant>-<kind>/_metadata, beside expected.json.

// expectedFile is expected.json: what the generator's job configured, and what it took.
type expectedFile struct {
	FlinkVersion string `json:"flinkVersion"`
	Operators    []struct {
		UID            string `json:"uid"`
		Name           string `json:"name"`
		Role           string `json:"role"` // source, sink or operator
		Parallelism    int    `json:"parallelism"`
		MaxParallelism int    `json:"maxParallelism"`
		State          string `json:"state"` // source, keyed, operator, finished or none
	} `json:"operators"`
	Snapshots []struct {
		Dir       string   `json:"dir"`
		Variant   string   `json:"variant"`
		Kind      string   `json:"kind"`   // savepoint or checkpoint
		Format    string   `json:"format"` // canonical, native, "" for a checkpoint
		Operators []string `json:"operators"`
	} `json:"snapshots"`
}

// fixtureVersion is one Flink version's fixtures.
type fixtureVersion struct {
	flink    string // e.g. 2.2.1
	dir      string
	expected expectedFile
}

// toolsCache is tools/install.sh's cache: $FLINK_TOOLS_CACHE, else ~/.cache/terraform-provider-flink.
func toolsCache(t testing.TB) string {
	if c := os.Getenv("FLINK_TOOLS_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("no home directory for the tool cache: %v", err)
	}
	return filepath.Join(home, ".cache", "terraform-provider-flink")
}

// fixtureVersions returns the fixtures of every Flink version tools/flink.sh fetched. It skips
// the test when no Flink was fetched at all (FLINK_TOOLS_SKIP_FLINK=1: nothing to generate
// from) and fails it when a fetched version has no fixtures from this tree's generator.
func fixtureVersions(t testing.TB) []fixtureVersion {
	t.Helper()
	cache := toolsCache(t)
	var fetched []string
	entries, _ := os.ReadDir(filepath.Join(cache, "flink"))
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(cache, "flink", e.Name(), ".pin")); e.IsDir() && err == nil {
			fetched = append(fetched, e.Name())
		}
	}
	if len(fetched) == 0 {
		t.Skipf("no Flink fetched into %s (FLINK_TOOLS_SKIP_FLINK=1?): no real metadata to read; make tools fetches Flink and generates it",
			filepath.Join(cache, "flink"))
	}
	pin := generatorPin(t)
	var out []fixtureVersion
	for _, v := range fetched {
		dir := filepath.Join(cache, "metadata", v, pin)
		data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
		if err != nil {
			t.Errorf("Flink %s is fetched but has no metadata fixtures from this tree's generator (pin %s): %v; run make tools (tools/metadata-fixtures.sh)",
				v, pin, err)
			continue
		}
		fv := fixtureVersion{flink: v, dir: dir}
		if err := json.Unmarshal(data, &fv.expected); err != nil {
			t.Fatalf("%s: %v", filepath.Join(dir, "expected.json"), err)
		}
		if len(fv.expected.Snapshots) == 0 {
			t.Errorf("%s lists no snapshots", filepath.Join(dir, "expected.json"))
		}
		out = append(out, fv)
	}
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// generatorPin is the pin tools/metadata-fixtures.sh computes for test/metadata-fixtures:
//
//	find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
func generatorPin(t testing.TB) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(here), "..", "..", "..", "test", "metadata-fixtures")
	files := []string{"pom.xml"}
	err := filepath.WalkDir(filepath.Join(src, "src"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(src, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatalf("the generator's sources: %v", err)
	}
	sort.Strings(files) // byte order, as LC_ALL=C sort
	sums := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(sums, "%x  %s\n", sha256.Sum256(data), f)
	}
	return fmt.Sprintf("%x", sums.Sum(nil))[:16]
}

// formatVersionOf is the metadata format version Flink flinkVersion writes
// (Checkpoints.storeCheckpointMetadata of its release branch).
func formatVersionOf(t testing.TB, flinkVersion string) int {
	majorMinor := strings.Join(strings.SplitN(flinkVersion, ".", 3)[:2], ".")
	switch majorMinor {
	case "1.18", "1.19", "1.20":
		return 4
	case "2.0":
		return 5
	case "2.1", "2.2", "2.3":
		return 6
	}
	t.Fatalf("which metadata format version does Flink %s write? Look it up in its Checkpoints.java and add it here", flinkVersion)
	return 0
}

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
