package benchscale

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchScaleSmoke runs make bench-scale's measurement at a small size so that it cannot
// rot: every figure of the tables is measured (none is zero), the plans through the provider
// and through its schemas alone are clean (Run fails otherwise), and the provider wrote its
// CPU profiles. It asserts no timing.
func TestBenchScaleSmoke(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (it starts the embedded stack and runs terraform)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	profiles := t.TempDir()
	var out strings.Builder
	rows, err := Run(ctx, Options{Sizes: []int{3, 2}, Plans: 1, Repo: repo, ProfileDir: profiles, Output: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(out.String(), 60))
	}
	if len(rows) != 2 || rows[0].Apps != 2 || rows[0].Added != 2 || rows[1].Apps != 3 || rows[1].Added != 1 {
		t.Fatalf("rows %+v: want 2 then 3 applications, adding 2 then 1", rows)
	}
	for _, r := range rows {
		if r.Apply <= 0 || r.Floor.Wall <= 0 || r.Floor.TerraformCPU <= 0 {
			t.Errorf("%d applications: a figure was not measured: %+v", r.Apps, r)
		}
		for name, c := range map[string]PlanCost{"provider": r.Provider, "schema only": r.SchemaOnly} {
			if c.Wall <= 0 || c.ProviderCPU <= 0 || c.TerraformCPU <= 0 || c.PeakRSS <= 0 || c.Plugins < 1 {
				t.Errorf("%d applications, %s: a figure was not measured: %+v", r.Apps, name, c)
			}
		}
		// Planning reads each application's records and its job: at least one Kubernetes
		// and one Flink request per application. The schema-only provider makes none.
		if r.Provider.KubeRequests < 1 || r.Provider.FlinkRequests < 1 {
			t.Errorf("%d applications: %.2f Kubernetes and %.2f Flink requests per application per plan; want at least 1 each",
				r.Apps, r.Provider.KubeRequests, r.Provider.FlinkRequests)
		}
		if r.SchemaOnly.FlinkRequests != 0 {
			t.Errorf("%d applications: the schema-only provider made %.2f Flink requests per application", r.Apps, r.SchemaOnly.FlinkRequests)
		}
	}
	written, _ := filepath.Glob(filepath.Join(profiles, "cpu-*.pprof"))
	if len(written) != rows[1].Provider.Plugins {
		t.Errorf("%d CPU profiles for %d plugin processes", len(written), rows[1].Provider.Plugins)
	}
	if table := Table(rows); strings.Count(table, "\n") != 9 {
		t.Errorf("table of 2 rows:\n%s", table)
	}
}

func TestSumCounter(t *testing.T) {
	exposition := []byte(`# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",verb="GET"} 10
apiserver_request_total{code="201",verb="POST",resource="x{y}"} 2.5
apiserver_request_total_other 100
apiserver_request_total 1
`)
	got, err := sumCounter(exposition, "apiserver_request_total")
	if err != nil || got != 13.5 {
		t.Errorf("sumCounter = %v, %v; want 13.5", got, err)
	}
	if _, err := sumCounter(exposition, "absent_total"); err == nil {
		t.Error("sumCounter of an absent counter: want an error")
	}
}
